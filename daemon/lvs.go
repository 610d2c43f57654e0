package daemon

import (
	"fmt"
	"log/slog"

	"github.com/moby/ipvs"

	"vigil/config"
	"vigil/lvs"
)

// buildLVS opens IPVS and prepares the manager of the mode: lvs services,
// or returns nils when there are none. Opening it here, in New, makes a
// kernel without IPVS a start-up error that names the service, not a
// service that silently never forwards.
func buildLVS(cfg *config.Config, log *slog.Logger) (*lvs.Manager, *ipvs.Handle, error) {
	first := ""
	for _, sc := range cfg.Services {
		if sc.Mode == "lvs" {
			first = sc.Name
			break
		}
	}
	if first == "" {
		return nil, nil, nil
	}
	h, err := lvs.Open("")
	if err != nil {
		return nil, nil, fmt.Errorf("%s: service %s (mode: lvs): %w", cfg.File, first, err)
	}
	m, err := lvs.New(log, cfg.Services, cfg.LVS, h)
	if err != nil {
		h.Close()
		return nil, nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	return m, h, nil
}

// lvsHealth is one lvs service's view of the manager, shaped like a proxy
// service's health so tracking and quorum hooks treat both modes alike.
type lvsHealth struct {
	m    *lvs.Manager
	name string
}

func (h lvsHealth) Health() (bool, string)         { return h.m.Health(h.name) }
func (h lvsHealth) HealthChanges() <-chan struct{} { return h.m.HealthChanges(h.name) }

package alerts

import "time"

// Event is one alert, and the JSON body POSTed to webhooks, one event per
// request. Every field is always present (empty strings stay "") so
// receivers can rely on the shape:
//
//	{
//	  "node":    "lb1",                      // the sending node (config node:)
//	  "kind":    "vrrp",                     // "vrrp", "backend" or "service"
//	  "subject": "VI_1",                     // instance, "service/address" or service
//	  "from":    "BACKUP",                   // state before
//	  "to":      "MASTER",                   // state after
//	  "reason":  "master down timer expired", // why, in words
//	  "time":    "2026-11-24T00:01:02.345Z"  // when, RFC 3339 in UTC
//	}
//
// VRRP states are INIT, BACKUP, MASTER and FAULT, spelled as keepalived
// does; backends and services are "up" or "down" (an operator's admin
// change of a backend uses "enabled", "drain" and "maint"). New fields may be added; none will be renamed or removed.
type Event struct {
	Node    string    `json:"node"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Reason  string    `json:"reason"`
	Time    time.Time `json:"time"`
}

package lvs

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The byte tables are little-endian: netlink uses host order, and vigil
// runs on amd64 and arm64.

func TestEncodeDaemon(t *testing.T) {
	for _, tc := range []struct {
		name     string
		d        SyncDaemon
		settings bool
		want     []byte
	}{
		{"start master", SyncDaemon{SyncMaster, "eth1", 1}, true, []byte{
			32, 0, 3, 0x80, // IPVS_CMD_ATTR_DAEMON | NLA_F_NESTED
			8, 0, 1, 0, 1, 0, 0, 0, // state master
			9, 0, 2, 0, 'e', 't', 'h', '1', 0, 0, 0, 0, // mcast_ifn, NUL, padding
			8, 0, 3, 0, 1, 0, 0, 0, // syncid 1
		}},
		{"start backup, longest name", SyncDaemon{SyncBackup, "abcdefghijklmno", 255}, true, []byte{
			40, 0, 3, 0x80,
			8, 0, 1, 0, 2, 0, 0, 0,
			20, 0, 2, 0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 0,
			8, 0, 3, 0, 255, 0, 0, 0,
		}},
		{"stop backup", SyncDaemon{Role: SyncBackup}, false, []byte{
			12, 0, 3, 0x80,
			8, 0, 1, 0, 2, 0, 0, 0,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := encodeDaemon(tc.d, tc.settings).Serialize()
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("encoded\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// genl is a genetlink header (cmd NEW_DAEMON, as the kernel's dump
// replies carry) before attrs.
func genl(attrs ...byte) []byte { return append([]byte{ipvsCmdNewDaemon, 1, 0, 0}, attrs...) }

func TestDecodeDaemon(t *testing.T) {
	for _, tc := range []struct {
		name    string
		msg     []byte
		want    SyncDaemon
		wantErr string
	}{
		{"our own encoding", genl(encodeDaemon(SyncDaemon{SyncMaster, "eth1", 7}, true).Serialize()...), SyncDaemon{SyncMaster, "eth1", 7}, ""},
		{"kernel 6.1 reply with maxlen, port, ttl, group", genl(
			64, 0, 3, 0x80,
			8, 0, 1, 0, 2, 0, 0, 0,
			9, 0, 2, 0, 'v', 'e', 't', 'h', 0, 0, 0, 0,
			8, 0, 3, 0, 42, 0, 0, 0,
			6, 0, 4, 0, 0xdc, 0x05, 0, 0, // sync_maxlen 1500 (u16)
			6, 0, 7, 0, 0x22, 0x90, 0, 0, // mcast_port 8848
			5, 0, 8, 0, 1, 0, 0, 0, // mcast_ttl 1 (u8)
			8, 0, 5, 0, 224, 0, 0, 81, // mcast_group
		), SyncDaemon{SyncBackup, "veth", 42}, ""},
		{"interface without NUL, last attribute unpadded", genl(
			26, 0, 3, 0,
			8, 0, 3, 0, 9, 0, 0, 0,
			8, 0, 1, 0, 1, 0, 0, 0,
			6, 0, 2, 0, 'e', '0',
		), SyncDaemon{SyncMaster, "e0", 9}, ""},
		{"short header", []byte{9, 1}, SyncDaemon{}, "shorter than its header"},
		{"no daemon attribute", genl(8, 0, 4, 0, 0, 0, 0, 0), SyncDaemon{}, "without a daemon attribute"},
		{"missing sync id", genl(
			16, 0, 3, 0x80,
			8, 0, 1, 0, 1, 0, 0, 0,
			4, 0, 2, 0,
		), SyncDaemon{}, "lacks state, interface or sync id"},
		{"state of 2 bytes", genl(
			12, 0, 3, 0x80,
			6, 0, 1, 0, 1, 0, 0, 0,
		), SyncDaemon{}, "daemon state of 2 bytes"},
		{"attribute longer than the message", genl(200, 0, 3, 0x80, 8, 0), SyncDaemon{}, "out of range"},
		{"stray bytes", genl(8, 0, 1, 0, 1, 0, 0, 0, 1), SyncDaemon{}, "stray bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeDaemon(tc.msg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("decodeDaemon = %v, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("decodeDaemon = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzDecodeDaemon(f *testing.F) {
	f.Add(genl(encodeDaemon(SyncDaemon{SyncMaster, "eth1", 7}, true).Serialize()...))
	f.Add(genl(12, 0, 3, 0x80, 8, 0, 1, 0, 2, 0, 0, 0))
	f.Fuzz(func(t *testing.T, msg []byte) {
		d, err := decodeDaemon(msg)
		if err != nil {
			return
		}
		// What decodes re-encodes to a message that decodes the same.
		again, err := decodeDaemon(genl(encodeDaemon(d, true).Serialize()...))
		if err != nil || again != d {
			t.Fatalf("re-decoding %+v: %+v, %v", d, again, err)
		}
	})
}

func TestCheckSyncDaemon(t *testing.T) {
	for _, tc := range []struct {
		d  SyncDaemon
		ok bool
	}{
		{SyncDaemon{SyncMaster, "eth1", 1}, true},
		{SyncDaemon{SyncBackup, "abcdefghijklmno", 0}, true},
		{SyncDaemon{SyncBackup, "abcdefghijklmnop", 0}, false}, // 16 bytes: no room for the NUL
		{SyncDaemon{SyncMaster, "", 1}, false},
		{SyncDaemon{3, "eth1", 1}, false},
	} {
		if err := checkSyncDaemon(tc.d); (err == nil) != tc.ok {
			t.Errorf("checkSyncDaemon(%+v) = %v, want ok=%v", tc.d, err, tc.ok)
		}
	}
}

// fakeSync is a kernel with at most one daemon per role, answering like
// the real one: EEXIST-like failure for a second daemon of a role.
type fakeSync struct {
	running []SyncDaemon
	calls   []string
	failOn  string // a call that fails, as "start master" or "read"
}

func (f *fakeSync) SyncDaemons() ([]SyncDaemon, error) {
	if f.failOn == "read" {
		return nil, errors.New("read failed")
	}
	return slices.Clone(f.running), nil
}

func (f *fakeSync) StartSyncDaemon(d SyncDaemon) error {
	call := "start " + d.String()
	f.calls = append(f.calls, call)
	if f.failOn == "start "+d.Role.String() {
		return errors.New("no such device")
	}
	for _, r := range f.running {
		if r.Role == d.Role {
			return errors.New("file exists")
		}
	}
	f.running = append(f.running, d)
	return nil
}

func (f *fakeSync) StopSyncDaemon(role SyncRole) error {
	f.calls = append(f.calls, "stop "+role.String())
	f.running = slices.DeleteFunc(f.running, func(d SyncDaemon) bool { return d.Role == role })
	return nil
}

func TestReconcileSync(t *testing.T) {
	master := SyncDaemon{SyncMaster, "eth1", 1}
	backup := SyncDaemon{SyncBackup, "eth1", 1}
	for _, tc := range []struct {
		name      string
		running   []SyncDaemon
		want      *SyncDaemon
		failOn    string
		wantCalls []string
		wantRun   []SyncDaemon
		wantErr   bool
	}{
		{"start backup from nothing", nil, &backup, "", []string{"start backup on eth1 syncid 1"}, []SyncDaemon{backup}, false},
		{"already as wanted: no calls", []SyncDaemon{master}, &master, "", nil, []SyncDaemon{master}, false},
		{"backup to master stops backup first", []SyncDaemon{backup}, &master, "",
			[]string{"stop backup", "start master on eth1 syncid 1"}, []SyncDaemon{master}, false},
		{"master to backup stops master first", []SyncDaemon{master}, &backup, "",
			[]string{"stop master", "start backup on eth1 syncid 1"}, []SyncDaemon{backup}, false},
		{"new sync id restarts", []SyncDaemon{{SyncMaster, "eth1", 2}}, &master, "",
			[]string{"stop master", "start master on eth1 syncid 1"}, []SyncDaemon{master}, false},
		{"both left running: the other one stops", []SyncDaemon{master, backup}, &master, "",
			[]string{"stop backup"}, []SyncDaemon{master}, false},
		{"stop all", []SyncDaemon{master, backup}, nil, "", []string{"stop master", "stop backup"}, nil, false},
		{"stop with nothing running", nil, nil, "", nil, nil, false},
		{"start fails: reported, the other role still stopped", []SyncDaemon{backup}, &master, "start master",
			[]string{"stop backup", "start master on eth1 syncid 1"}, nil, true},
		{"read fails: nothing done", []SyncDaemon{backup}, &master, "read", nil, []SyncDaemon{backup}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeSync{running: slices.Clone(tc.running), failOn: tc.failOn}
			err := ReconcileSync(k, tc.want)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ReconcileSync: %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(k.calls, tc.wantCalls) {
				t.Errorf("calls %q, want %q", k.calls, tc.wantCalls)
			}
			if !slices.Equal(k.running, tc.wantRun) {
				t.Errorf("running %v, want %v", k.running, tc.wantRun)
			}
		})
	}
}

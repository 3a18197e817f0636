package writers

import (
	"reflect"
	"testing"
)

func writer(addr string, id uint32) Observation {
	return Observation{Addr: addr, Reachable: true, ServerID: id}
}

func replica(addr string, id uint32, masters ...uint32) Observation {
	return Observation{Addr: addr, Reachable: true, ReadOnly: true, Replicating: true, ServerID: id, MasterIDs: masters}
}

func TestPick(t *testing.T) {
	down := Observation{Addr: "a:1"}
	for _, tc := range []struct {
		name       string
		candidates []Observation
		voters     []Observation
		want       string
		contenders []string
	}{
		{"one writer", []Observation{writer("a:1", 1), replica("b:1", 2, 1)}, nil, "a:1", []string{"a:1"}},
		{"writer listed second", []Observation{replica("b:1", 2, 1), writer("a:1", 1)}, nil, "a:1", []string{"a:1"}},
		{"after a switchover", []Observation{replica("a:1", 1, 2), writer("b:1", 2)}, nil, "b:1", []string{"b:1"}},
		{"old writer down", []Observation{down, writer("b:1", 2)}, nil, "b:1", []string{"b:1"}},
		{"nobody answers", []Observation{down, {Addr: "b:1"}}, nil, "", nil},
		{"read_only set, not promoted yet", []Observation{{Addr: "a:1", Reachable: true, ReadOnly: true, ServerID: 1}, replica("b:1", 2, 1)}, nil, "", nil},
		{"writable but replicating", []Observation{{Addr: "a:1", Reachable: true, Replicating: true, ServerID: 1, MasterIDs: []uint32{2}}}, nil, "", nil},
		{"stopped replica with read_only off counts", []Observation{{Addr: "a:1", Reachable: true, ServerID: 1, MasterIDs: []uint32{2}}}, nil, "a:1", []string{"a:1"}},
		{"split brain: the replicas' choice wins",
			[]Observation{writer("a:1", 1), writer("b:1", 2)},
			[]Observation{replica("r:1", 3, 2), replica("r:2", 4, 2)}, "b:1", []string{"b:1", "a:1"}},
		{"split brain: the same whatever the order",
			[]Observation{writer("b:1", 2), writer("a:1", 1)},
			[]Observation{replica("r:1", 3, 2), replica("r:2", 4, 1), replica("r:3", 5, 2)}, "b:1", []string{"b:1", "a:1"}},
		{"split brain, no votes: lower server id",
			[]Observation{writer("b:1", 2), writer("a:1", 1)}, nil, "a:1", []string{"a:1", "b:1"}},
		{"a replica listed twice votes once",
			[]Observation{writer("a:1", 1), writer("b:1", 2)},
			[]Observation{replica("r:1", 3, 2), replica("r:1-socket", 3, 2), replica("r:2", 4, 1), replica("r:3", 5, 1)}, "a:1", []string{"a:1", "b:1"}},
		{"same server id: lower address", []Observation{writer("b:1", 1), writer("a:1", 1)}, nil, "a:1", []string{"a:1", "b:1"}},
		{"unreachable voters do not vote",
			[]Observation{writer("a:1", 1), writer("b:1", 2)},
			[]Observation{{Addr: "r:1", ServerID: 3, MasterIDs: []uint32{2}}}, "a:1", []string{"a:1", "b:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Pick(tc.candidates, tc.voters)
			if d.Writer != tc.want || !reflect.DeepEqual(d.Contenders, tc.contenders) {
				t.Errorf("Pick = %q %v, want %q %v", d.Writer, d.Contenders, tc.want, tc.contenders)
			}
		})
	}
}

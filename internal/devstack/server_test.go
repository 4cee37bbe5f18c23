package devstack

import (
	"net"
	"strconv"
	"testing"
)

// The reserved port must stay bindable by the service that asked for it
// (TIME_WAIT plus SO_REUSEADDR), and never be handed out twice.
func TestFreePortBindableAndUnique(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		port, err := FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("reserved port %d not bindable: %v", port, err)
		}
		_ = l.Close()
	}
}

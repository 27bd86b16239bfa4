package workload

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A server whose port was taken is started again on another; any other
// failure is reported with the server's output.
func TestListenServerRetriesTakenPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ports []int
	start := func(_ string, port int) (*server, error) {
		ports = append(ports, port)
		if len(ports) < 3 {
			return startServer("sh", "-c", "echo 'bind: Address already in use'; exit 1")
		}
		return startServer("sh", "-c", "echo READY; exec sleep 60")
	}
	ready := func(srv *server, _ string, _ int) func(context.Context) bool {
		return func(context.Context) bool { return strings.Contains(srv.out.String(), "READY") }
	}
	srv, bind, port, err := listenServer(ctx, "127.0.0.1:1", "ready", start, ready)
	if err != nil {
		t.Fatal(err)
	}
	srv.stop()
	if len(ports) != 3 || port != ports[2] || bind != "127.0.0.1" {
		t.Errorf("attempts on ports %v, got %s:%d", ports, bind, port)
	}

	_, _, _, err = listenServer(ctx, "127.0.0.1:1", "ready", func(string, int) (*server, error) {
		return startServer("sh", "-c", "echo 'config error on line 3'; exit 1")
	}, ready)
	if err == nil || !strings.Contains(err.Error(), "config error on line 3") || !strings.Contains(err.Error(), "exited before ready") {
		t.Errorf("a failing server: %v", err)
	}
}

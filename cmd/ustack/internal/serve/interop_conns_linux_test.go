package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ustack-go/ustack/transport/tcp"
)

// TestInteropTCPConns: while curl downloads slowly (--limit-rate) from
// ustack's HTTP service, GET /conns shows the transfer's connection with
// a congestion window and the peer's receive window as what limits it
// (the kernel's buffer full, curl reading at its own pace), in JSON and
// in the text report.
func TestInteropTCPConns(t *testing.T) {
	t.Parallel()
	requireTCP(t)
	u := start(t, []string{"curl"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	download := u.ns.Command(ctx, "curl", "-sS", "--limit-rate", "200k", "-o", "/dev/null",
		fmt.Sprintf("http://%s/bytes/%d", u.addr, 1<<30))
	if err := download.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = download.Wait()
	}()

	type entry struct {
		Local, Remote, State, Limit, Why string
		Info                             tcp.Info
	}
	var found *entry
	var last string
	for deadline := time.Now().Add(30 * time.Second); found == nil && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, stderr, code := u.runTimed(time.Minute, nil, "curl", "-sS", "--fail", "http://"+u.addr.String()+"/conns?json=1")
		if code != 0 {
			t.Fatalf("curl /conns?json=1: exit %d (%s)", code, stderr)
		}
		last = string(out)
		var entries []entry
		if err := json.Unmarshal(out, &entries); err != nil {
			t.Fatalf("GET /conns?json=1: %v\n%s", err, out)
		}
		for i, e := range entries {
			// The download, not this request's own connection:
			// megabytes sent and more waiting.
			if strings.HasSuffix(e.Local, ":80") && e.State == "ESTABLISHED" && e.Info.BytesAcked > 1<<20 &&
				e.Info.Limit == tcp.LimitReceiverWindow {
				found = &entries[i]
			}
		}
	}
	if found == nil {
		t.Fatalf("no receiver-window-limited download in /conns after 30 s; last:\n%s", last)
	}
	if found.Info.Cwnd <= 0 || found.Info.NotSent == 0 || found.Info.RTT <= 0 || found.Info.RwndLimitedTime <= 0 ||
		found.Limit != "receiver-window" || !strings.HasPrefix(found.Remote, u.kernel.Addr().String()+":") {
		t.Errorf("download's entry: %+v", *found)
	}
	t.Logf("the download: %s", found.Why)

	out, stderr, code := u.runTimed(time.Minute, nil, "curl", "-sS", "--fail", "http://"+u.addr.String()+"/conns")
	if code != 0 || !strings.Contains(string(out), "tcp [::]:80 LISTEN") || !strings.Contains(string(out), "limited by the receiver") {
		t.Errorf("curl /conns: exit %d (%s):\n%s", code, stderr, out)
	}
}

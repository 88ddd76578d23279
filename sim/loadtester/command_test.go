package loadtester

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// runtimeThree keeps 3 × 0.1 a run-time product, rounded as ParseCommand's is.
var runtimeThree = 3

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cmd        string
		want       Load
		wantLength time.Duration
		wantKnown  bool
	}{
		{
			name: "research example: canary Service directly, 20 rps for a minute",
			cmd:  "hey -z 1m -q 10 -c 2 http://frontend-canary.podinfo:9898/",
			want: Load{Tool: "hey", Method: "GET", URL: "http://frontend-canary.podinfo:9898/",
				Host: "frontend-canary", Namespace: "podinfo", Port: 9898,
				RPS: 20, Concurrency: 2, Duration: time.Minute},
			wantLength: time.Minute, wantKnown: true,
		},
		{
			name: "research e2e form through the apex",
			cmd:  "hey -z 10m -q 10 -c 2 http://podinfo.test:9898/",
			want: Load{Tool: "hey", Method: "GET", URL: "http://podinfo.test:9898/",
				Host: "podinfo", Namespace: "test", Port: 9898,
				RPS: 20, Concurrency: 2, Duration: 10 * time.Minute},
			wantLength: 10 * time.Minute, wantKnown: true,
		},
		{
			name: "hey -n: a fixed count in closed loops, length unknown",
			cmd:  "hey -n 1000 -c 10 http://podinfo-canary.test:9898/",
			want: Load{Tool: "hey", Method: "GET", URL: "http://podinfo-canary.test:9898/",
				Host: "podinfo-canary", Namespace: "test", Port: 9898,
				Concurrency: 10, ClosedLoop: true, Requests: 1000},
			wantKnown: false,
		},
		{
			name: "hey -n rate limited: n/c per worker, one 200 ms tick each",
			cmd:  "hey -n 1000 -c 3 -q 5 http://podinfo.test:9898/",
			want: Load{Tool: "hey", Method: "GET", URL: "http://podinfo.test:9898/",
				Host: "podinfo", Namespace: "test", Port: 9898,
				RPS: 15, Concurrency: 3, Requests: 999},
			wantLength: 333 * 200 * time.Millisecond, wantKnown: true,
		},
		{
			// c × q = 0.30000000000000004; RunLength must still find
			// hey's tick of exactly 10 s, not 9.999999 s.
			name: "hey -q 0.1: two requests per worker at hey's 10 s tick",
			cmd:  "hey -n 6 -c 3 -q 0.1 http://podinfo.test/",
			want: Load{Tool: "hey", Method: "GET", URL: "http://podinfo.test/",
				Host: "podinfo", Namespace: "test", Port: 80,
				RPS: float64(runtimeThree) * 0.1, Concurrency: 3, Requests: 6},
			wantLength: 20 * time.Second, wantKnown: true,
		},
		{
			name: "hey defaults: 50 workers, 200 requests, port 80, bare Service name",
			cmd:  "hey http://podinfo/",
			want: Load{Tool: "hey", Method: "GET", URL: "http://podinfo/", Host: "podinfo", Port: 80,
				Concurrency: 50, ClosedLoop: true, Requests: 200},
		},
		{
			name: "hey with a path, headers, method and ignored flags",
			cmd: `/usr/local/bin/hey -z 1m30s -q 1 -c 1 -m post -H 'x-canary: insider' -H "Cookie: canary=always" ` +
				`-T application/json -A '*/*' -host podinfo.example.com -d '{}' -t 5 -disable-keepalive -h2 -cpus 2 ` +
				`https://podinfo.test.svc.cluster.local/api/echo`,
			want: Load{Tool: "hey", Method: "POST", URL: "https://podinfo.test.svc.cluster.local/api/echo",
				Host: "podinfo", Namespace: "test", Port: 443,
				Headers: map[string]string{"X-Canary": "insider", "Cookie": "canary=always",
					"Content-Type": "application/json", "Accept": "*/*", "Host": "podinfo.example.com"},
				RPS: 1, Concurrency: 1, Duration: 90 * time.Second},
			wantLength: 90 * time.Second, wantKnown: true,
		},
		{
			name: "hey quoting: escapes inside double quotes and a quote glued to a word",
			cmd:  `hey -z 1s -c 1 -H "X-Note: say \"hi\"" -H X-Who:\ it\'s http://podinfo.test/`,
			want: Load{Tool: "hey", Method: "GET", URL: "http://podinfo.test/", Host: "podinfo", Namespace: "test", Port: 80,
				Headers:     map[string]string{"X-Note": `say "hi"`, "X-Who": "it's"},
				Concurrency: 1, ClosedLoop: true, Duration: time.Second},
			wantLength: time.Second, wantKnown: true,
		},
		{
			name: "hey stops reading flags at the URL, so a later -z is ignored",
			cmd:  "hey -c 2 http://podinfo.test:9898/ -z 1m",
			want: Load{Tool: "hey", Method: "GET", URL: "http://podinfo.test:9898/", Host: "podinfo", Namespace: "test", Port: 9898,
				Concurrency: 2, ClosedLoop: true, Requests: 200},
		},
		{
			name: "hey -z 0 falls back to -n",
			cmd:  "hey -z 0 -n 10 -c 5 http://10.96.0.12:8080/",
			want: Load{Tool: "hey", Method: "GET", URL: "http://10.96.0.12:8080/", Host: "10.96.0.12", Port: 8080,
				Concurrency: 5, ClosedLoop: true, Requests: 10},
		},
		{
			name: "research wrk example: 10 closed loops for 30 s",
			cmd:  "wrk -t2 -c10 -d30s http://podinfo-canary.test:9898/",
			want: Load{Tool: "wrk", Method: "GET", URL: "http://podinfo-canary.test:9898/",
				Host: "podinfo-canary", Namespace: "test", Port: 9898,
				Concurrency: 10, ClosedLoop: true, Duration: 30 * time.Second},
			wantLength: 30 * time.Second, wantKnown: true,
		},
		{
			name: "wrk defaults: 10 connections for 10 s",
			cmd:  "/usr/bin/wrk http://podinfo.test:9898/",
			want: Load{Tool: "wrk", Method: "GET", URL: "http://podinfo.test:9898/", Host: "podinfo", Namespace: "test", Port: 9898,
				Concurrency: 10, ClosedLoop: true, Duration: 10 * time.Second},
			wantLength: 10 * time.Second, wantKnown: true,
		},
		{
			name: "wrk long options after the URL, header, latency, timeout",
			cmd:  "wrk http://podinfo.test:9898/ --connections=20 --threads 4 --duration 2m -H 'x-canary: insider' --latency --timeout 5s",
			want: Load{Tool: "wrk", Method: "GET", URL: "http://podinfo.test:9898/", Host: "podinfo", Namespace: "test", Port: 9898,
				Headers:     map[string]string{"X-Canary": "insider"},
				Concurrency: 20, ClosedLoop: true, Duration: 2 * time.Minute},
			wantLength: 2 * time.Minute, wantKnown: true,
		},
		{
			name: "wrk bare seconds, clustered short options, metric count",
			cmd:  "wrk -Lt 2 -c 1k -d 45 http://podinfo.test/",
			want: Load{Tool: "wrk", Method: "GET", URL: "http://podinfo.test/", Host: "podinfo", Namespace: "test", Port: 80,
				Concurrency: 1000, ClosedLoop: true, Duration: 45 * time.Second},
			wantLength: 45 * time.Second, wantKnown: true,
		},
		{
			name: "wrk hours with an upper-case unit",
			cmd:  "wrk -d 1H http://podinfo.test/",
			want: Load{Tool: "wrk", Method: "GET", URL: "http://podinfo.test/", Host: "podinfo", Namespace: "test", Port: 80,
				Concurrency: 10, ClosedLoop: true, Duration: time.Hour},
			wantLength: time.Hour, wantKnown: true,
		},
		{
			name: "wrk tolerates a Go duration",
			cmd:  "wrk -d 1m30s http://podinfo.test/",
			want: Load{Tool: "wrk", Method: "GET", URL: "http://podinfo.test/", Host: "podinfo", Namespace: "test", Port: 80,
				Concurrency: 10, ClosedLoop: true, Duration: 90 * time.Second},
			wantLength: 90 * time.Second, wantKnown: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCommand(tt.cmd)
			if err != nil {
				t.Fatalf("ParseCommand(%q): %v", tt.cmd, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCommand(%q)\n got %+v\nwant %+v", tt.cmd, got, tt.want)
			}
			length, known := got.RunLength()
			if length != tt.wantLength || known != tt.wantKnown {
				t.Errorf("RunLength = %v, %v; want %v, %v", length, known, tt.wantLength, tt.wantKnown)
			}
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cmd string
		// mention is a piece the message must contain: the flag at fault.
		mention string
	}{
		{"hey -c x -z 1m http://podinfo.test/", "-c"},
		{"hey -q fast -z 1m http://podinfo.test/", "-q"},
		{"hey -z 10 http://podinfo.test/", "-z"}, // hey's -z needs a unit
		{"hey -z", "-z"},
		{"hey -z 1m", "no URL"},
		{"hey -n 5 -c 10 http://podinfo.test/", "-n 5"},
		{"hey -n 0 http://podinfo.test/", "-n 0"},
		{"hey -c 0 -z 1m http://podinfo.test/", "-c 0"},
		{"hey -H bogus http://podinfo.test/", "-H"},
		{"hey -H 'X-Empty:' http://podinfo.test/", "-H"},
		{"hey -h 'X-A: b' http://podinfo.test/", "-h"},
		{"hey -a nopassword http://podinfo.test/", "-a"},
		{"hey -U agent http://podinfo.test/", "-U"}, // not a flag of hey v0.1.4
		{"hey -foo http://podinfo.test/", "-foo"},
		{"hey -m 'GE T' http://podinfo.test/", "-m"},
		{"hey podinfo.test:9898", "URL"},
		{"hey ftp://podinfo.test/", "URL"},
		{"hey http:///path", "no host"},
		{"hey http://podinfo.test:0/", "port"},
		{"wrk -t2 -c1 -d30s http://podinfo.test/", "-c 1"},
		{"wrk -c 0 http://podinfo.test/", "-c 0"},
		{"wrk -t 0 http://podinfo.test/", "-t"},
		{"wrk -t two http://podinfo.test/", "-t"},
		{"wrk -d 1x http://podinfo.test/", "-d"},
		{"wrk -d 0 http://podinfo.test/", "-d"},
		{"wrk -d -5s http://podinfo.test/", "-d"},
		{"wrk --duration=soon http://podinfo.test/", "--duration"},
		{"wrk --timeout 2q http://podinfo.test/", "--timeout"},
		{"wrk -c10", "no URL"},
		{"wrk -d", "-d"},
		{"wrk --threads", "--threads"},
		{"wrk --latency=yes http://podinfo.test/", "--latency"},
		{"wrk --bogus http://podinfo.test/", "--bogus"},
		{"wrk -r http://podinfo.test/", "-r"},
		{"wrk -H novalue http://podinfo.test/", "-H"},
		{"wrk podinfo.test", "URL"},
		{"hey -z 1m http://podinfo.test/ | tee /tmp/out", `'|'`},
		{"hey -z 1m http://podinfo.test/ > /dev/null", `'>'`},
		{"hey -z 1m http://podinfo.test/ && echo done", `'&'`},
		{`hey -z 1m "$URL"`, `'$'`},
		{"hey -z 1m $URL", `'$'`},
		{"hey -z 1m `cat url`", "'`'"},
		{"hey -z 1m 'http://podinfo.test/", "single quote"},
		{`hey -z 1m "http://podinfo.test/`, "double quote"},
		{"(hey -z 1m http://podinfo.test/)", `'('`},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			t.Parallel()
			load, err := ParseCommand(tt.cmd)
			if err == nil {
				t.Fatalf("ParseCommand(%q) = %+v, want an error", tt.cmd, load)
			}
			if errors.Is(err, ErrNoLoad) {
				t.Fatalf("ParseCommand(%q): %v; a malformed hey or wrk is not ErrNoLoad", tt.cmd, err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("ParseCommand(%q): %q does not mention %q", tt.cmd, err, tt.mention)
			}
		})
	}
}

func TestParseCommandNoLoad(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{
		"curl -s http://podinfo-canary.test:9898/",
		"curl -sd 'test' http://podinfo-canary.test:9898/token | grep token",
		"ghz -z 1m --insecure --proto hello.proto podinfo.test:9999",
		"/bin/sleep 30",
		"heyy -z 1m http://podinfo.test/",
		"",
		"   # a comment only",
	} {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			load, err := ParseCommand(cmd)
			if !errors.Is(err, ErrNoLoad) {
				t.Fatalf("ParseCommand(%q) = %+v, %v; want ErrNoLoad", cmd, load, err)
			}
			if !reflect.DeepEqual(load, Load{}) {
				t.Errorf("ParseCommand(%q) = %+v, want the zero Load", cmd, load)
			}
		})
	}
}

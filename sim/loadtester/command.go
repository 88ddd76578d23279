package loadtester

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrNoLoad marks a command that is not hey or wrk (curl, sleep, a script):
// the real tester runs it and canarylab cannot, but it sends no load that the
// emulation would have to reproduce. Callers branch on it with errors.Is.
var ErrNoLoad = errors.New("the command offers no load")

// Load is the traffic a hey or wrk command line offers
// (docs/measurements.md#hey-and-wrk-load).
type Load struct {
	Tool   string // "hey" or "wrk"
	Method string // upper case, as hey sends it
	URL    string
	// Host is the Service name: the first DNS label of the URL's host (the
	// whole host when it is an IP address).
	Host string
	// Namespace is the second DNS label of the host, empty when there is
	// none: a bare name resolves in the loadtester's own namespace.
	Namespace string
	Port      int // from the URL, else 80 for http and 443 for https
	// Headers are the headers the command sets (hey -H, -A, -T, -host; wrk
	// -H), keyed in canonical form (X-Canary). nil when there are none.
	// hey's -host is stored as "Host".
	Headers map[string]string
	// RPS is the total offered rate, hey's c × q, when q > 0.
	RPS         float64
	Concurrency int  // hey -c workers, wrk -c connections
	ClosedLoop  bool // hey -q 0 (or below), and wrk always: each worker keeps one request in flight
	// Duration is hey -z or wrk -d (default 10s). Zero for a hey that sends
	// a fixed number of requests.
	Duration time.Duration
	// Requests is what a hey without -z sends: -n (default 200) rounded
	// down to a multiple of -c, as each worker sends n/c requests
	// (hey requester/requester.go:258).
	Requests int64
}

// RunLength is how long the command runs as its flags alone decide it: the
// duration of a timed load, or, for a rate-limited hey -n, the requests per
// worker times hey's pacing tick, which it truncates to the microsecond
// (hey requester/requester.go:209-213; the first request waits one tick).
// known is false when the length depends on the target's latency: a
// closed-loop hey -n. The zero Load runs for no time.
func (l Load) RunLength() (length time.Duration, known bool) {
	switch {
	case l.Duration > 0:
		return l.Duration, true
	case l.Requests == 0:
		return 0, true
	case l.ClosedLoop || l.RPS <= 0 || l.Concurrency <= 0:
		return 0, false
	}
	perWorkerQPS := l.RPS / float64(l.Concurrency)
	// The tolerance undoes the float error of c×q/c, so that q = 0.1 gives
	// exactly hey's 100000 µs and not 99999.
	tick := time.Duration(math.Floor(1e6/perWorkerQPS+1e-6)) * time.Microsecond
	return time.Duration(l.Requests/int64(l.Concurrency)) * tick, true
}

// ParseCommand reads the load a `cmd` task offers. The command is split into
// shell words (quotes and backslashes as sh reads them); its first word,
// with any directory removed, names the tool. A command that does not start
// with hey or wrk yields an error wrapping ErrNoLoad. hey or wrk combined with
// shell operators or expansions (|, ;, &&, >, $VAR, `...`) is an error:
// canarylab reads a single command line, not a script.
//
// hey is read as hey v0.1.4 reads its flags (Go's flag package, so parsing
// stops at the first non-flag word and flags after the URL are ignored);
// wrk as wg/wrk 4.2.0 reads them (getopt, options anywhere). One tolerance
// differs from wrk: -d also accepts Go durations such as 1m30s, which the
// real wrk rejects.
func ParseCommand(cmd string) (Load, error) {
	words, err := shellWords(cmd)
	if len(words) == 0 {
		if err != nil {
			return Load{}, fmt.Errorf("command %q: %w", cmd, err)
		}
		return Load{}, fmt.Errorf("%w: the command is empty", ErrNoLoad)
	}
	tool := path.Base(words[0])
	if tool != "hey" && tool != "wrk" {
		return Load{}, fmt.Errorf("%w: %s is neither hey nor wrk", ErrNoLoad, words[0])
	}
	if err != nil {
		return Load{}, fmt.Errorf("%s: %w", tool, err)
	}
	if tool == "hey" {
		return parseHey(words[1:])
	}
	return parseWrk(words[1:])
}

// heyHeader is the pattern hey requires of -H (hey hey.go:36, :149-155).
var heyHeader = regexp.MustCompile(`^([\w-]+):\s*(.+)`)

// heyBasicAuth is the pattern hey requires of -a (hey hey.go:37).
var heyBasicAuth = regexp.MustCompile(`^(.+):([^\s].+)`)

// headerList collects a repeatable flag.
type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

// parseHey reads hey's flags with the same flag set, defaults and checks as
// hey v0.1.4 (hey hey.go:41-66 flags and defaults, :123-136 the -n/-c/-z
// checks, :139 the method upper-cased, :192-195 the URL).
func parseHey(args []string) (Load, error) {
	flags := flag.NewFlagSet("hey", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	method := flags.String("m", "GET", "")
	deprecatedHeaders := flags.String("h", "", "")
	flags.String("d", "", "")
	flags.String("D", "", "")
	accept := flags.String("A", "", "")
	contentType := flags.String("T", "text/html", "")
	basicAuth := flags.String("a", "", "")
	hostHeader := flags.String("host", "", "")
	flags.String("o", "", "")
	workers := flags.Int("c", 50, "")
	requests := flags.Int("n", 200, "")
	perWorkerQPS := flags.Float64("q", 0, "")
	flags.Int("t", 20, "")
	duration := flags.Duration("z", 0, "")
	flags.Bool("h2", false, "")
	flags.Int("cpus", 1, "")
	flags.Bool("disable-compression", false, "")
	flags.Bool("disable-keepalive", false, "")
	flags.Bool("disable-redirects", false, "")
	proxy := flags.String("x", "", "")
	var headerFlags headerList
	flags.Var(&headerFlags, "H", "")

	if err := flags.Parse(args); err != nil {
		return Load{}, fmt.Errorf("hey: %w", err)
	}
	if flags.NArg() < 1 {
		return Load{}, errors.New("hey: no URL")
	}
	if *duration > 0 {
		if *workers <= 0 {
			return Load{}, fmt.Errorf("hey: -c %d: must be at least 1", *workers)
		}
	} else {
		if *requests <= 0 || *workers <= 0 {
			return Load{}, fmt.Errorf("hey: -n %d -c %d: both must be at least 1", *requests, *workers)
		}
		if *requests < *workers {
			return Load{}, fmt.Errorf("hey: -n %d is less than -c %d", *requests, *workers)
		}
	}
	if *deprecatedHeaders != "" {
		return Load{}, errors.New("hey: -h is deprecated in hey; use -H")
	}
	headers := map[string]string{}
	set := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["T"] {
		headers["Content-Type"] = *contentType
	}
	for _, h := range headerFlags {
		match := heyHeader.FindStringSubmatch(h)
		if match == nil {
			return Load{}, fmt.Errorf("hey: -H %q: want \"Name: value\"", h)
		}
		headers[http.CanonicalHeaderKey(match[1])] = match[2]
	}
	if *accept != "" {
		headers["Accept"] = *accept
	}
	if *hostHeader != "" {
		headers["Host"] = *hostHeader
	}
	if *basicAuth != "" && !heyBasicAuth.MatchString(*basicAuth) {
		return Load{}, fmt.Errorf("hey: -a %q: want user:password", *basicAuth)
	}
	if *proxy != "" {
		if _, err := url.Parse(*proxy); err != nil {
			return Load{}, fmt.Errorf("hey: -x: %w", err)
		}
	}
	rawURL := flags.Arg(0)
	upperMethod := strings.ToUpper(*method)
	if _, err := http.NewRequest(upperMethod, rawURL, nil); err != nil {
		return Load{}, fmt.Errorf("hey: -m %q or URL %q: %w", *method, rawURL, err)
	}
	load := Load{Tool: "hey", Method: upperMethod, URL: rawURL, Concurrency: *workers}
	if err := load.setTarget(); err != nil {
		return Load{}, fmt.Errorf("hey: %w", err)
	}
	if len(headers) > 0 {
		load.Headers = headers
	}
	if *perWorkerQPS > 0 {
		load.RPS = float64(*workers) * *perWorkerQPS
	} else {
		load.ClosedLoop = true
	}
	if *duration > 0 {
		load.Duration = *duration
	} else {
		load.Requests = int64(*requests / *workers * *workers)
	}
	return load, nil
}

// wrkOptions are wrk's options and whether each takes a value
// (wrk src/wrk.c:469-480 long names, :492 the short ones). -r is in wrk's
// option string but rejected by its switch (:520-524), like -h and -?.
var wrkOptions = map[string]struct {
	short    byte
	hasValue bool
}{
	"connections": {'c', true},
	"duration":    {'d', true},
	"threads":     {'t', true},
	"script":      {'s', true},
	"header":      {'H', true},
	"timeout":     {'T', true},
	"latency":     {'L', false},
	"version":     {'v', false},
}

// parseWrk reads wrk's options as getopt_long does for wrk 4.2.0: short
// options may be clustered (-Lt2), a value may be attached (-c10) or the next
// word, long options take --name=value or --name value, and options may
// follow the URL. Long options are matched by their full names only (getopt
// also takes a unique prefix such as --conn). Defaults and checks are wrk's (wrk src/wrk.c:487-490,
// :528-538). A Lua script (-s) may change the requests; it is accepted and
// not read, so the load is modelled as the plain GET.
func parseWrk(args []string) (Load, error) {
	threads, connections := uint64(2), uint64(10)
	duration := 10 * time.Second
	var headers []string
	var positional []string

	apply := func(short byte, name, value string) error {
		var err error
		switch short {
		case 't':
			threads, err = wrkCount(value)
		case 'c':
			connections, err = wrkCount(value)
		case 'd':
			duration, err = wrkDuration(value)
		case 'T':
			_, err = wrkDuration(value)
		case 'H':
			headers = append(headers, value)
		}
		if err != nil {
			return fmt.Errorf("wrk: %s %q: %w", name, value, err)
		}
		return nil
	}

	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(arg, "--"):
			name, value, hasValue := strings.Cut(arg[2:], "=")
			option, ok := wrkOptions[name]
			if !ok {
				return Load{}, fmt.Errorf("wrk: unknown option --%s", name)
			}
			if !option.hasValue {
				if hasValue {
					return Load{}, fmt.Errorf("wrk: --%s takes no value", name)
				}
				continue
			}
			if !hasValue {
				if i+1 == len(args) {
					return Load{}, fmt.Errorf("wrk: --%s needs a value", name)
				}
				i++
				value = args[i]
			}
			if err := apply(option.short, "--"+name, value); err != nil {
				return Load{}, err
			}
		case len(arg) > 1 && arg[0] == '-':
		cluster:
			for j := 1; j < len(arg); j++ {
				short := arg[j]
				switch short {
				case 'L', 'v':
					continue
				case 't', 'c', 'd', 's', 'H', 'T':
					value := arg[j+1:]
					if value == "" {
						if i+1 == len(args) {
							return Load{}, fmt.Errorf("wrk: -%c needs a value", short)
						}
						i++
						value = args[i]
					}
					if err := apply(short, "-"+string(short), value); err != nil {
						return Load{}, err
					}
					break cluster
				default:
					return Load{}, fmt.Errorf("wrk: unknown option -%c", short)
				}
			}
		default:
			positional = append(positional, arg)
		}
	}

	if threads == 0 {
		return Load{}, errors.New("wrk: -t must be at least 1")
	}
	if duration <= 0 {
		return Load{}, errors.New("wrk: -d must be more than 0")
	}
	if len(positional) == 0 {
		return Load{}, errors.New("wrk: no URL")
	}
	if connections == 0 || connections < threads {
		return Load{}, fmt.Errorf("wrk: -c %d: connections must be at least the threads (-t %d)", connections, threads)
	}
	if connections > math.MaxInt32 {
		return Load{}, fmt.Errorf("wrk: -c %d: too many connections", connections)
	}
	load := Load{
		Tool:        "wrk",
		Method:      http.MethodGet,
		URL:         positional[0],
		Concurrency: int(connections),
		ClosedLoop:  true,
		Duration:    duration,
	}
	if err := load.setTarget(); err != nil {
		return Load{}, fmt.Errorf("wrk: %w", err)
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return Load{}, fmt.Errorf("wrk: -H %q: want \"Name: value\"", h)
		}
		if load.Headers == nil {
			load.Headers = map[string]string{}
		}
		load.Headers[http.CanonicalHeaderKey(name)] = strings.TrimSpace(value)
	}
	return load, nil
}

// wrkCount reads -t and -c: an integer with an optional metric suffix
// k, M, G, T or P, matched without regard to case (wrk src/units.c:35-39,
// :58-75, :98-100), so 10m is ten million, not ten minutes.
func wrkCount(value string) (uint64, error) {
	return wrkUnits(value, "", []string{"k", "M", "G", "T", "P"}, 1000)
}

// wrkDuration reads -d and --timeout: an integer with an optional s, m or h,
// matched without regard to case (wrk src/units.c:23-27, :102-104); a bare
// number is seconds. A Go duration (1m30s, 500ms) is tolerated as well,
// unlike the real wrk.
func wrkDuration(value string) (time.Duration, error) {
	seconds, err := wrkUnits(value, "s", []string{"m", "h"}, 60)
	if err == nil {
		if seconds > uint64(math.MaxInt64/time.Second) {
			return 0, errors.New("too long")
		}
		return time.Duration(seconds) * time.Second, nil
	}
	goDuration, goErr := time.ParseDuration(value)
	if goErr != nil || goDuration < 0 {
		return 0, errors.New("want a whole number with an optional unit s, m or h (10, 30s, 2m, 1h), or a Go duration")
	}
	return goDuration, nil
}

// wrkUnits reads digits and an optional unit: the base unit (or none) scales
// by 1, the first of units by scale, the next by scale², and so on.
func wrkUnits(value, base string, units []string, scale uint64) (uint64, error) {
	digits := value
	for i, r := range value {
		if r < '0' || r > '9' {
			digits = value[:i]
			break
		}
	}
	if digits == "" {
		return 0, errors.New("want a whole number")
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, err
	}
	unit := strings.TrimSpace(value[len(digits):])
	if unit == "" || strings.EqualFold(unit, base) {
		return n, nil
	}
	factor := uint64(1)
	for _, u := range units {
		if factor > math.MaxUint64/scale {
			break
		}
		factor *= scale
		if strings.EqualFold(unit, u) {
			if n > math.MaxUint64/factor {
				return 0, errors.New("too large")
			}
			return n * factor, nil
		}
	}
	return 0, fmt.Errorf("unknown unit %q", unit)
}

// setTarget fills Host, Namespace and Port from URL. Only http and https
// URLs with a host send requests.
func (l *Load) setTarget() error {
	u, err := url.Parse(l.URL)
	if err != nil {
		return fmt.Errorf("URL %q: %w", l.URL, err)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return fmt.Errorf("URL %q: want an http:// or https:// URL", l.URL)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("URL %q: no host", l.URL)
	}
	if net.ParseIP(host) != nil {
		l.Host = host
	} else {
		labels := strings.Split(host, ".")
		l.Host = labels[0]
		if len(labels) > 1 {
			l.Namespace = labels[1]
		}
	}
	switch {
	case u.Port() != "":
		port, err := strconv.Atoi(u.Port())
		if err != nil || port <= 0 || port > 65535 {
			return fmt.Errorf("URL %q: bad port %q", l.URL, u.Port())
		}
		l.Port = port
	case scheme == "https":
		l.Port = 443
	default:
		l.Port = 80
	}
	return nil
}

// shellWords splits a command line as sh does for a simple command: blanks
// separate words; '...' is literal; "..." is literal but for \ before $ ` " \
// and a newline; a backslash outside quotes quotes the next character, and
// with a newline continues the line; an unquoted # at the start of a word
// begins a comment. Shell operators and expansions end the split with an
// error; the words completed before them are returned, so that the caller
// still learns which program the command starts with.
func shellWords(line string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch c {
		case ' ', '\t', '\n':
			endWord()
		case '\\':
			if i+1 == len(line) {
				word.WriteByte(c)
				inWord = true
				continue
			}
			i++
			if line[i] != '\n' {
				word.WriteByte(line[i])
				inWord = true
			}
		case '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				endWord()
				return words, errors.New("unterminated single quote")
			}
			word.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case '"':
			inWord = true
			closed := false
			for i++; i < len(line); i++ {
				c := line[i]
				if c == '"' {
					closed = true
					break
				}
				if c == '$' || c == '`' {
					endWord()
					return words, fmt.Errorf("shell expansion %q is not supported", c)
				}
				if c == '\\' && i+1 < len(line) && strings.IndexByte("$`\"\\\n", line[i+1]) >= 0 {
					i++
					if line[i] != '\n' {
						word.WriteByte(line[i])
					}
					continue
				}
				word.WriteByte(c)
			}
			if !closed {
				endWord()
				return words, errors.New("unterminated double quote")
			}
		case '#':
			if !inWord {
				return words, nil
			}
			word.WriteByte(c)
		case ';', '&', '|', '<', '>', '(', ')':
			endWord()
			return words, fmt.Errorf("shell operator %q is not supported", c)
		case '$', '`':
			endWord()
			return words, fmt.Errorf("shell expansion %q is not supported", c)
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	endWord()
	return words, nil
}

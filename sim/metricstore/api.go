package metricstore

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
)

// API serves the store as Prometheus' HTTP API (/api/v1/query and
// /api/v1/query_range), so a real controller's AnalysisRuns can query the
// sim's telemetry. Clock maps wall time to the store's virtual time; the
// Outage and Empty switches are the metrics faults.
type API struct {
	Store *Store
	// Clock returns the virtual time of a wall-clock instant.
	Clock func(time.Time) time.Duration
	// Lock serialises queries with the writer of the store's samples.
	Lock sync.Locker

	mu     sync.Mutex
	outage bool
	empty  bool
}

// SetOutage makes every query fail as an unreachable Prometheus would: the
// connection is closed without an answer.
func (a *API) SetOutage(on bool) { a.mu.Lock(); a.outage = on; a.mu.Unlock() }

// SetEmpty makes every query answer an empty vector.
func (a *API) SetEmpty(on bool) { a.mu.Lock(); a.empty = on; a.mu.Unlock() }

// ServeHTTP answers instant and range queries.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	outage, empty := a.outage, a.empty
	a.mu.Unlock()
	if outage {
		if hijacker, ok := w.(http.Hijacker); ok {
			if conn, _, err := hijacker.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		http.Error(w, "prometheus is down", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		apiError(w, http.StatusBadRequest, "bad_data", err)
		return
	}
	query := r.Form.Get("query")
	switch r.URL.Path {
	case "/api/v1/query":
		at, err := parseTime(r.Form.Get("time"), time.Now())
		if err != nil {
			apiError(w, http.StatusBadRequest, "bad_data", err)
			return
		}
		if empty {
			writeData(w, model.Vector{})
			return
		}
		a.Lock.Lock()
		value, err := a.Store.Query(r.Context(), query, a.Clock(at))
		a.Lock.Unlock()
		if err != nil {
			apiError(w, http.StatusUnprocessableEntity, "execution", err)
			return
		}
		writeData(w, value)
	case "/api/v1/query_range":
		apiError(w, http.StatusBadRequest, "bad_data", errors.New("range queries are not served by canarylab's Prometheus; use an instant query"))
	default:
		http.NotFound(w, r)
	}
}

func parseTime(text string, fallback time.Time) (time.Time, error) {
	if text == "" {
		return fallback, nil
	}
	if seconds, err := strconv.ParseFloat(text, 64); err == nil {
		return time.Unix(0, int64(seconds*1e9)), nil
	}
	return time.Parse(time.RFC3339Nano, text)
}

func writeData(w http.ResponseWriter, value model.Value) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": value.Type().String(), "result": value}})
}

func apiError(w http.ResponseWriter, code int, kind string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": kind, "error": err.Error()})
}

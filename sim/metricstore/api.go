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
		now := time.Now()
		at, err := parseTime(r.Form.Get("time"), now)
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
		writeData(w, a.toWall(value, now))
	case "/api/v1/query_range":
		now := time.Now()
		start, startErr := parseTime(r.Form.Get("start"), time.Time{})
		end, endErr := parseTime(r.Form.Get("end"), time.Time{})
		step, stepErr := parseStep(r.Form.Get("step"))
		switch {
		case startErr != nil || endErr != nil || stepErr != nil:
			apiError(w, http.StatusBadRequest, "bad_data", errors.Join(startErr, endErr, stepErr))
			return
		case start.IsZero() || end.IsZero() || step <= 0:
			apiError(w, http.StatusBadRequest, "bad_data", errors.New("query_range needs start, end and a positive step"))
			return
		case end.Before(start):
			apiError(w, http.StatusBadRequest, "bad_data", errors.New("end is before start"))
			return
		case end.Sub(start)/step > MaxPointsPerSeries:
			apiError(w, http.StatusBadRequest, "bad_data", errors.New("exceeded maximum resolution of 11,000 points per timeseries: use a larger step"))
			return
		}
		if empty {
			writeData(w, model.Matrix{})
			return
		}
		a.Lock.Lock()
		value, err := a.Store.QueryRange(r.Context(), query, a.Clock(start), a.Clock(end), step)
		a.Lock.Unlock()
		if err != nil {
			apiError(w, http.StatusUnprocessableEntity, "execution", err)
			return
		}
		writeData(w, a.toWall(value, now))
	default:
		http.NotFound(w, r)
	}
}

// toWall moves the store's timestamps (virtual time from Epoch) to the
// wall-clock instants they stand for, as a real Prometheus would answer.
func (a *API) toWall(value model.Value, now time.Time) model.Value {
	shift := model.Time(now.UnixMilli() - Timestamp(a.Clock(now)))
	switch v := value.(type) {
	case model.Vector:
		for _, sample := range v {
			sample.Timestamp += shift
		}
	case model.Matrix:
		for _, stream := range v {
			for i := range stream.Values {
				stream.Values[i].Timestamp += shift
			}
		}
	case *model.Scalar:
		v.Timestamp += shift
	}
	return value
}

// parseStep reads a query_range step: seconds, or a duration.
func parseStep(text string) (time.Duration, error) {
	if seconds, err := strconv.ParseFloat(text, 64); err == nil {
		return time.Duration(seconds * float64(time.Second)), nil
	}
	if d, err := model.ParseDuration(text); err == nil {
		return time.Duration(d), nil
	}
	return 0, errors.New("step " + strconv.Quote(text) + " is neither seconds nor a duration")
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

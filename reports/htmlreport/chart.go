package htmlreport

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/canarylab/canarylab/result"
)

// Colours from the Okabe-Ito palette, which stays distinguishable with
// colour-blindness; every series also differs by dash or marker shape.
const (
	colorStable  = "#0072B2" // blue, solid
	colorCanary  = "#E69F00" // orange, dashed
	colorFail    = "#D55E00" // vermillion
	colorOK      = "#009E73" // bluish green
	colorWarn    = "#CC79A7" // reddish purple
	colorError   = "#56B4E9" // sky blue
	colorBand    = "#999999"
	chartWidth   = 960
	panelHeight  = 130
	marginLeft   = 56
	marginRight  = 56
	marginTop    = 22
	panelGap     = 34
	plotWidth    = chartWidth - marginLeft - marginRight
	chartPanels  = 3
	chartHeight  = marginTop + chartPanels*panelHeight + (chartPanels-1)*panelGap + 34
	markerRadius = 4.5
)

// chart is the timeline of one run as inline SVG: the routed canary weight
// with analysis measurements and decisive moments, requests per second, and
// the error ratio per version; fault and action intervals are bands across
// all panels.
type chart struct {
	res     *result.Result
	seconds float64
	b       strings.Builder
}

func renderChart(res *result.Result) template.HTML {
	c := &chart{res: res, seconds: runSeconds(res)}
	fmt.Fprintf(&c.b, `<svg class="timeline" viewBox="0 0 %d %d" role="img" aria-label="timeline of %s">`, chartWidth, chartHeight, template.HTMLEscapeString(res.Scenario))
	c.bands()
	c.weightPanel(0)
	c.requestsPanel(1)
	c.errorPanel(2)
	c.moments()
	c.xAxis()
	c.b.WriteString(`</svg>`)
	return template.HTML(c.b.String())
}

// runSeconds is the length of the timeline: the series, or the last event.
func runSeconds(res *result.Result) float64 {
	seconds := 1.0
	if res.Series != nil {
		seconds = max(seconds, float64(len(res.Series.CanaryWeight)))
	}
	for _, event := range res.Events {
		seconds = max(seconds, math.Ceil(event.AtSeconds))
	}
	return seconds
}

func (c *chart) x(seconds float64) float64 {
	return marginLeft + seconds/c.seconds*plotWidth
}

func panelTop(panel int) float64 { return marginTop + float64(panel)*(panelHeight+panelGap) }

// y maps value in [0, top] into the panel.
func (c *chart) y(panel int, value, top float64) float64 {
	if top <= 0 {
		top = 1
	}
	return panelTop(panel) + panelHeight - value/top*panelHeight
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func (c *chart) frame(panel int, title, unit string, top float64, ticks int) {
	y0 := panelTop(panel)
	fmt.Fprintf(&c.b, `<text class="panel-title" x="%d" y="%s">%s</text>`, marginLeft, f(y0-7), template.HTMLEscapeString(title))
	fmt.Fprintf(&c.b, `<rect class="frame" x="%d" y="%s" width="%d" height="%d"/>`, marginLeft, f(y0), plotWidth, panelHeight)
	for i := 0; i <= ticks; i++ {
		value := top * float64(i) / float64(ticks)
		y := c.y(panel, value, top)
		fmt.Fprintf(&c.b, `<line class="grid" x1="%d" x2="%d" y1="%s" y2="%s"/>`, marginLeft, marginLeft+plotWidth, f(y), f(y))
		fmt.Fprintf(&c.b, `<text class="tick" x="%d" y="%s" text-anchor="end">%s%s</text>`, marginLeft-6, f(y+4), strconv.FormatFloat(value, 'f', -1, 64), unit)
	}
}

// bands shades fault intervals and marks actions across all panels.
func (c *chart) bands() {
	open := map[string]float64{}
	var order []string
	top, bottom := panelTop(0), panelTop(chartPanels-1)+panelHeight
	for _, event := range c.res.Events {
		switch event.Type {
		case result.FaultStarted:
			if _, ok := open[event.Fault]; !ok {
				order = append(order, event.Fault)
			}
			open[event.Fault] = event.AtSeconds
		case result.FaultEnded:
			if start, ok := open[event.Fault]; ok {
				c.band(event.Fault, start, event.AtSeconds, top, bottom)
				delete(open, event.Fault)
			}
		case result.ActionApplied:
			x := c.x(event.AtSeconds)
			fmt.Fprintf(&c.b, `<g class="action"><line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-dasharray="2 3"/><text x="%s" y="%s">%s</text></g>`,
				f(x), f(x), f(top), f(bottom), colorBand, f(x+3), f(bottom-4), template.HTMLEscapeString(event.Action))
		}
	}
	for _, fault := range order {
		if start, ok := open[fault]; ok {
			c.band(fault, start, c.seconds, top, bottom)
		}
	}
}

func (c *chart) band(fault string, from, to, top, bottom float64) {
	x1, x2 := c.x(from), c.x(max(to, from+0.5))
	fmt.Fprintf(&c.b, `<g class="fault"><rect x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.14" stroke="%s" stroke-dasharray="4 2"/><text x="%s" y="%s">%s</text></g>`,
		f(x1), f(top), f(x2-x1), f(bottom-top), colorBand, colorBand, f(x1+3), f(top+12), template.HTMLEscapeString(fault))
}

// stepLine draws a step function of per-second values.
func (c *chart) stepLine(panel int, values []float64, top float64, color, dash, class string) {
	if len(values) == 0 {
		return
	}
	var points strings.Builder
	for i, value := range values {
		y := c.y(panel, value, top)
		fmt.Fprintf(&points, "%s,%s %s,%s ", f(c.x(float64(i))), f(y), f(c.x(float64(i+1))), f(y))
	}
	fmt.Fprintf(&c.b, `<polyline class="%s" points="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`, class, strings.TrimSpace(points.String()), color, dash)
}

func (c *chart) weightPanel(panel int) {
	c.frame(panel, "canary weight (routed) and analysis measurements", "%", 100, 4)
	if c.res.Series != nil {
		values := make([]float64, len(c.res.Series.CanaryWeight))
		for i, w := range c.res.Series.CanaryWeight {
			values[i] = float64(w)
		}
		c.stepLine(panel, values, 100, colorCanary, "", "weight")
	}
	// Measurements: shape and colour by phase, along the top of the panel.
	row := map[string]int{}
	for _, event := range c.res.Events {
		if event.Type != result.MeasurementTaken {
			continue
		}
		key := event.AnalysisRun + "/" + event.Metric
		if _, ok := row[key]; !ok {
			row[key] = len(row)
		}
		y := panelTop(panel) + 10 + float64(row[key]%4)*12
		c.marker(c.x(event.AtSeconds), y, event.Phase, fmt.Sprintf("%s %s at %ss: %s %s", event.Metric, event.AnalysisRun, f(event.AtSeconds), event.Phase, event.Value))
	}
}

// marker draws a measurement: circle Successful, triangle Failed, square
// Error, diamond Inconclusive.
func (c *chart) marker(x, y float64, phase, title string) {
	r := markerRadius
	var shape string
	switch phase {
	case "Successful":
		shape = fmt.Sprintf(`<circle cx="%s" cy="%s" r="%s" fill="%s"/>`, f(x), f(y), f(r), colorOK)
	case "Failed":
		shape = fmt.Sprintf(`<polygon points="%s,%s %s,%s %s,%s" fill="%s"/>`, f(x), f(y-r-1), f(x-r-1), f(y+r), f(x+r+1), f(y+r), colorFail)
	case "Error":
		shape = fmt.Sprintf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, f(x-r), f(y-r), f(2*r), f(2*r), colorError)
	default:
		shape = fmt.Sprintf(`<polygon points="%s,%s %s,%s %s,%s %s,%s" fill="%s"/>`, f(x), f(y-r-1), f(x+r+1), f(y), f(x), f(y+r+1), f(x-r-1), f(y), colorWarn)
	}
	fmt.Fprintf(&c.b, `<g class="measurement %s"><title>%s</title>%s</g>`, template.HTMLEscapeString(strings.ToLower(phase)), template.HTMLEscapeString(title), shape)
}

func niceTop(value float64) float64 {
	if value <= 0 {
		return 1
	}
	magnitude := math.Pow(10, math.Floor(math.Log10(value)))
	for _, step := range []float64{1, 2, 2.5, 5, 10} {
		if step*magnitude >= value {
			return step * magnitude
		}
	}
	return 10 * magnitude
}

func (c *chart) requestsPanel(panel int) {
	series := c.res.Series
	top := 1.0
	if series != nil {
		for i := range series.Requests.Stable {
			top = max(top, float64(series.Requests.Stable[i]))
		}
		for i := range series.Requests.Canary {
			top = max(top, float64(series.Requests.Canary[i]))
		}
	}
	top = niceTop(top)
	c.frame(panel, "requests per second", "", top, 4)
	if series == nil {
		return
	}
	c.stepLine(panel, floats(series.Requests.Stable), top, colorStable, "", "requests-stable")
	c.stepLine(panel, floats(series.Requests.Canary), top, colorCanary, "6 3", "requests-canary")
}

func (c *chart) errorPanel(panel int) {
	c.frame(panel, "error ratio", "%", 100, 4)
	series := c.res.Series
	if series == nil {
		return
	}
	ratio := func(failed, total []int64) []float64 {
		out := make([]float64, len(total))
		for i := range total {
			if total[i] > 0 && i < len(failed) {
				out[i] = 100 * float64(failed[i]) / float64(total[i])
			}
		}
		return out
	}
	c.stepLine(panel, ratio(series.Failed.Stable, series.Requests.Stable), 100, colorStable, "", "errors-stable")
	c.stepLine(panel, ratio(series.Failed.Canary, series.Requests.Canary), 100, colorFail, "6 3", "errors-canary")
}

func floats(values []int64) []float64 {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = float64(v)
	}
	return out
}

// moments marks the decisive events: abort, promotion, a pause for a
// person (Flagger: phases Failed, Succeeded, WaitingPromotion and Waiting).
func (c *chart) moments() {
	top, bottom := panelTop(0), panelTop(chartPanels-1)+panelHeight
	for _, event := range c.res.Events {
		label, color := "", ""
		switch event.Type {
		case result.RolloutAborted:
			label, color = "aborted", colorFail
		case result.RolloutPromoted:
			label, color = "promoted", colorOK
		case result.RolloutPaused:
			label, color = "paused", colorWarn
		case result.CanaryPhaseChanged: // Flagger
			switch event.Phase {
			case "Succeeded":
				label, color = "promoted", colorOK
			case "Failed":
				label, color = "aborted", colorFail
			case "WaitingPromotion", "Waiting":
				label, color = "paused", colorWarn
			default:
				continue
			}
		default:
			continue
		}
		x := c.x(event.AtSeconds)
		fmt.Fprintf(&c.b, `<g class="moment %s"><line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="2"/><text x="%s" y="%s" fill="%s">%s %ss</text></g>`,
			label, f(x), f(x), f(top-4), f(bottom), color, f(x+4), f(top+panelHeight-6), color, label, f(event.AtSeconds))
	}
}

func (c *chart) xAxis() {
	y := panelTop(chartPanels-1) + panelHeight
	step := niceTop(c.seconds / 8)
	for s := 0.0; s <= c.seconds+1e-9; s += step {
		x := c.x(s)
		fmt.Fprintf(&c.b, `<text class="tick" x="%s" y="%s" text-anchor="middle">%ss</text>`, f(x), f(y+16), strconv.FormatFloat(s, 'f', -1, 64))
	}
	fmt.Fprintf(&c.b, `<text class="tick" x="%d" y="%s" text-anchor="end">seconds from the release</text>`, chartWidth-marginRight, f(y+30))
}

// sparkline is the index's small canary-weight line.
func sparkline(res *result.Result) template.HTML {
	const width, height = 160, 28
	if res.Series == nil || len(res.Series.CanaryWeight) == 0 {
		return ""
	}
	weights := res.Series.CanaryWeight
	var points strings.Builder
	for i, w := range weights {
		x1 := float64(i) / float64(len(weights)) * width
		x2 := float64(i+1) / float64(len(weights)) * width
		y := height - 2 - float64(w)/100*(height-4)
		fmt.Fprintf(&points, "%s,%s %s,%s ", f(x1), f(y), f(x2), f(y))
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="canary weight over time"><polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/></svg>`,
		width, height, width, height, strings.TrimSpace(points.String()), colorCanary))
}

// Package htmlreport renders results as self-contained HTML pages: inline
// CSS and SVG, no script, font or image fetched from anywhere, so a report
// opens from disk offline and can be attached to a CI run.
package htmlreport

import (
	_ "embed"
	"html/template"
	"io"
	"strconv"

	"github.com/canarylab/canarylab/result"
)

//go:embed style.css
var style string

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"chart":     renderChart,
	"sparkline": sparkline,
	"style":     func() template.CSS { return template.CSS(style) },
	"seconds":   func(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) + "s" },
	"percent":   percent,
	"barWidth":  barWidth,
	"verdict":   verdict,
	"pageName":  PageName,
}).Parse(pageTemplate + indexTemplate))

// PageName is the file name of a result's page.
func PageName(res *result.Result) string { return res.Scenario + ".html" }

// Page writes the report page of one result.
func Page(w io.Writer, res *result.Result) error {
	return templates.ExecuteTemplate(w, "page", res)
}

// Index writes the page that lists every result of a run.
func Index(w io.Writer, results []*result.Result) error {
	passed := 0
	for _, res := range results {
		if res.Passed {
			passed++
		}
	}
	return templates.ExecuteTemplate(w, "index", map[string]any{"Results": results, "Passed": passed, "Failed": len(results) - passed})
}

func percent(failed, total int64) string {
	return result.Counts{Total: total, Failed: failed}.FailedPercent()
}

// barWidth is a bar's width in percent of the widest, for the blast radius.
func barWidth(value, widest int64) string {
	if widest <= 0 {
		return "0"
	}
	return strconv.FormatFloat(100*float64(value)/float64(widest), 'f', 1, 64)
}

func verdict(res *result.Result) string {
	switch {
	case res.Error != "":
		return "error"
	case res.Passed:
		return "pass"
	}
	return "fail"
}

const pageTemplate = `{{define "page"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Scenario}} · canarylab</title>
<style>{{style}}</style>
</head>
<body>
<header class="{{verdict .}}">
  <p class="crumb"><a href="index.html">all scenarios</a></p>
  <h1><span class="badge {{verdict .}}">{{if eq (verdict .) "pass"}}PASS{{else if eq (verdict .) "fail"}}FAIL{{else}}ERROR{{end}}</span> {{.Scenario}}</h1>
  <p class="summary">{{.Outcome.Result}} at {{seconds .Outcome.AtSeconds}}{{with .Outcome.Reason}} ({{.String}}){{end}} · backend {{.Backend}} · seed {{.Seed}}</p>
  {{with .Error}}<p class="error">{{.}}</p>{{end}}
</header>
<main>
<section>
  <h2>Expectations</h2>
  <table class="assertions">
    <thead><tr><th>check</th><th>result</th><th>expected against observed</th></tr></thead>
    <tbody>{{range .Assertions}}<tr class="{{if .Passed}}ok{{else}}bad{{end}}"><td>{{.Name}}</td><td>{{if .Passed}}✓ passed{{else}}✗ failed{{end}}</td><td>{{.Detail}}</td></tr>{{end}}</tbody>
  </table>
</section>
<section>
  <h2>Timeline</h2>
  <div class="chart">{{chart .}}</div>
  <p class="legend">
    <span><svg width="28" height="10"><line x1="0" x2="28" y1="5" y2="5" stroke="#E69F00" stroke-width="2"/></svg>canary weight / canary</span>
    <span><svg width="28" height="10"><line x1="0" x2="28" y1="5" y2="5" stroke="#0072B2" stroke-width="2"/></svg>stable</span>
    <span><svg width="28" height="10"><line x1="0" x2="28" y1="5" y2="5" stroke="#D55E00" stroke-width="2" stroke-dasharray="6 3"/></svg>canary errors</span>
    <span><svg width="12" height="12"><circle cx="6" cy="6" r="4.5" fill="#009E73"/></svg>Successful</span>
    <span><svg width="12" height="12"><polygon points="6,0.5 0.5,11 11.5,11" fill="#D55E00"/></svg>Failed</span>
    <span><svg width="12" height="12"><rect x="1.5" y="1.5" width="9" height="9" fill="#56B4E9"/></svg>Error</span>
    <span><svg width="12" height="12"><polygon points="6,0.5 11.5,6 6,11.5 0.5,6" fill="#CC79A7"/></svg>Inconclusive</span>
    <span><svg width="16" height="12"><rect x="0.5" y="0.5" width="15" height="11" fill="#999" fill-opacity="0.14" stroke="#999" stroke-dasharray="4 2"/></svg>fault</span>
  </p>
</section>
<section>
  <h2>Blast radius</h2>
  {{$widest := .Requests.Total}}
  <p class="big"><strong>{{.Requests.Failed}}</strong> of {{.Requests.Total}} user requests failed ({{percent .Requests.Failed .Requests.Total}})</p>
  <table class="blast">
    <tbody>
      <tr><td>canary</td><td class="num">{{.Requests.Canary.Failed}} / {{.Requests.Canary.Total}}</td><td class="barcell"><div class="bar"><div class="total canary" style="width:{{barWidth .Requests.Canary.Total $widest}}%"></div><div class="failed" style="width:{{barWidth .Requests.Canary.Failed $widest}}%"></div></div></td></tr>
      <tr><td>stable</td><td class="num">{{.Requests.Stable.Failed}} / {{.Requests.Stable.Total}}</td><td class="barcell"><div class="bar"><div class="total stable" style="width:{{barWidth .Requests.Stable.Total $widest}}%"></div><div class="failed" style="width:{{barWidth .Requests.Stable.Failed $widest}}%"></div></div></td></tr>
    </tbody>
  </table>
  <p class="note">Bars: requests served by each version; the hatched part failed.</p>
</section>
<section>
  <h2>Events</h2>
  <table class="events">
    <thead><tr><th>at</th><th>event</th><th>details</th></tr></thead>
    <tbody>{{range .Events}}<tr class="ev-{{.Type}}"><td class="num">{{seconds .AtSeconds}}</td><td>{{.Type}}</td><td>{{.Text}}</td></tr>{{end}}</tbody>
  </table>
</section>
</main>
<footer>canarylab · {{.Scenario}} · {{.Backend}}</footer>
</body>
</html>
{{end}}`

const indexTemplate = `{{define "index"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>canarylab report</title>
<style>{{style}}</style>
</head>
<body>
<header class="{{if .Failed}}fail{{else}}pass{{end}}">
  <h1>canarylab report</h1>
  <p class="summary">{{.Passed}} passed, {{.Failed}} failed</p>
</header>
<main>
<section>
  <table class="index">
    <thead><tr><th>scenario</th><th>result</th><th>outcome</th><th>at</th><th>failed requests</th><th>canary weight</th></tr></thead>
    <tbody>{{range .Results}}<tr class="{{verdict .}}">
      <td><a href="{{pageName .}}">{{.Scenario}}</a></td>
      <td><span class="badge {{verdict .}}">{{if eq (verdict .) "pass"}}PASS{{else if eq (verdict .) "fail"}}FAIL{{else}}ERROR{{end}}</span></td>
      <td>{{.Outcome.Result}}</td>
      <td class="num">{{seconds .Outcome.AtSeconds}}</td>
      <td class="num">{{.Requests.Failed}} / {{.Requests.Total}} ({{percent .Requests.Failed .Requests.Total}})</td>
      <td>{{sparkline .}}</td>
    </tr>{{end}}</tbody>
  </table>
</section>
</main>
<footer>canarylab</footer>
</body>
</html>
{{end}}`

package main

// PNG charts for the report, drawn with the standard library's image and
// golang.org/x/image/font/basicfont (no plotting library): horizontal
// grouped bars with value labels, a legend, a linear or log value axis and
// an optional target line.

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// barGroup is one row group: a label and one value per series (NaN or ≤ 0:
// no bar, "–").
type barGroup struct {
	Label  string
	Values []float64
	// Notes, when set, replace the value labels (same length as Values).
	Notes []string
}

type barChart struct {
	Title    string
	Subtitle string
	Axis     string // value axis label
	Series   []string
	Groups   []barGroup
	Log      bool
	Format   func(float64) string
	// Target draws a dashed vertical line at this value (0: none).
	Target      float64
	TargetLabel string
	// Colors are palette indices per series (default 0, 1, 2, …).
	Colors []int
}

func (c barChart) color(i int) color.RGBA {
	if i < len(c.Colors) {
		return palette[c.Colors[i]%len(palette)]
	}
	return palette[i%len(palette)]
}

var palette = []color.RGBA{
	{0x9e, 0x9e, 0x9e, 0xff}, // grey: the baseline
	{0x1f, 0x77, 0xb4, 0xff}, // blue: recordsync
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0x94, 0x67, 0xbd, 0xff}, // purple
}

var (
	colBlack  = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colGrid   = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	colAxis   = color.RGBA{0x60, 0x60, 0x60, 0xff}
	colTarget = color.RGBA{0xd6, 0x27, 0x28, 0xff}
)

const (
	charW  = 7  // basicfont.Face7x13 advance
	charH  = 13 // its height
	barH   = 18
	barGap = 3
	grpGap = 16
)

// text draws s with its baseline at (x, y), scaled by an integer factor.
func text(img *image.RGBA, x, y int, s string, c color.Color, scale int) {
	if scale <= 1 {
		d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
		return
	}
	w := len([]rune(s)) * charW
	tmp := image.NewRGBA(image.Rect(0, 0, w, charH+4))
	d := &font.Drawer{Dst: tmp, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(0, charH-2)}
	d.DrawString(s)
	top := y - (charH-2)*scale
	for ty := 0; ty < tmp.Bounds().Dy(); ty++ {
		for tx := 0; tx < w; tx++ {
			if _, _, _, a := tmp.At(tx, ty).RGBA(); a > 0x8000 {
				draw.Draw(img, image.Rect(x+tx*scale, top+ty*scale, x+(tx+1)*scale, top+(ty+1)*scale), image.NewUniform(c), image.Point{}, draw.Src)
			}
		}
	}
}

func textWidth(s string, scale int) int { return len([]rune(s)) * charW * max(scale, 1) }

func fillRect(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// si formats a number with k/M suffixes for axis ticks.
func si(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e6), "0"), ".") + "M"
	case a >= 1e3:
		return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e3), "0"), ".") + "k"
	case a >= 10 || a == 0:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", v), "0"), ".")
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// png draws the chart to path.
func (c barChart) png(path string) error {
	format := c.Format
	if format == nil {
		format = func(v float64) string { return si(v) }
	}
	nSeries := len(c.Series)
	// value range
	vmax, vmin := 0.0, math.Inf(1)
	for _, g := range c.Groups {
		for _, v := range g.Values {
			if v > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
				vmax = math.Max(vmax, v)
				vmin = math.Min(vmin, v)
			}
		}
	}
	if c.Target > 0 {
		vmax = math.Max(vmax, c.Target)
		vmin = math.Min(vmin, c.Target)
	}
	if vmax <= 0 {
		vmax, vmin = 1, 1
	}
	labelW := 0
	for _, g := range c.Groups {
		labelW = max(labelW, textWidth(g.Label, 1))
	}
	const width = 1000
	left := labelW + 20
	right := width - 150 // room for the value labels
	if right-left < 300 {
		right = left + 300
	}
	top := 58
	if c.Subtitle != "" {
		top += 16
	}
	legendH := 22
	top += legendH
	groupH := nSeries*(barH+barGap) - barGap + grpGap
	height := top + len(c.Groups)*groupH + 50
	img := image.NewRGBA(image.Rect(0, 0, max(width, right+150), height))
	fillRect(img, img.Bounds(), color.White)

	// scale
	var lo, hi float64
	var ticks []float64
	if c.Log {
		lo = math.Pow(10, math.Floor(math.Log10(vmin)))
		hi = math.Pow(10, math.Ceil(math.Log10(vmax*1.05)))
		if hi <= lo {
			hi = lo * 10
		}
		for t := lo; t <= hi*1.0001; t *= 10 {
			ticks = append(ticks, t)
		}
	} else {
		step := niceStep(vmax*1.05, 5)
		hi = math.Ceil(vmax*1.05/step) * step
		for t := 0.0; t <= hi+step/2; t += step {
			ticks = append(ticks, t)
		}
	}
	xOf := func(v float64) int {
		if v <= 0 {
			return left
		}
		var f float64
		if c.Log {
			if v < lo {
				v = lo
			}
			f = (math.Log10(v) - math.Log10(lo)) / (math.Log10(hi) - math.Log10(lo))
		} else {
			f = v / hi
		}
		return left + int(f*float64(right-left))
	}
	plotBottom := top + len(c.Groups)*groupH - grpGap + 8

	// title, subtitle, legend
	text(img, 12, 30, c.Title, colBlack, 2)
	y := 48
	if c.Subtitle != "" {
		text(img, 12, y+2, c.Subtitle, colAxis, 1)
		y += 16
	}
	lx := 12
	for i, s := range c.Series {
		fillRect(img, image.Rect(lx, y+2, lx+12, y+14), c.color(i))
		text(img, lx+17, y+12, s, colBlack, 1)
		lx += 17 + textWidth(s, 1) + 20
	}
	if c.Target > 0 && c.TargetLabel != "" {
		for k := 0; k < 12; k += 4 {
			fillRect(img, image.Rect(lx+k, y+7, lx+k+2, y+9), colTarget)
		}
		text(img, lx+17, y+12, c.TargetLabel, colTarget, 1)
	}

	// grid and ticks
	for _, t := range ticks {
		x := xOf(t)
		fillRect(img, image.Rect(x, top-4, x+1, plotBottom), colGrid)
		lbl := si(t)
		text(img, x-textWidth(lbl, 1)/2, plotBottom+15, lbl, colAxis, 1)
	}
	fillRect(img, image.Rect(left, top-4, left+1, plotBottom), colAxis)
	fillRect(img, image.Rect(left, plotBottom, right, plotBottom+1), colAxis)
	axis := c.Axis
	if c.Log {
		axis += " (log scale)"
	}
	text(img, left+(right-left)/2-textWidth(axis, 1)/2, plotBottom+34, axis, colBlack, 1)

	// bars
	for gi, g := range c.Groups {
		gy := top + gi*groupH
		mid := gy + (nSeries*(barH+barGap)-barGap)/2
		text(img, left-10-textWidth(g.Label, 1), mid+5, g.Label, colBlack, 1)
		for si, v := range g.Values {
			by := gy + si*(barH+barGap)
			note := "n/a"
			if v > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
				x := xOf(v)
				fillRect(img, image.Rect(left+1, by, max(x, left+2), by+barH), c.color(si))
				note = format(v)
			}
			if si < len(g.Notes) && g.Notes[si] != "" {
				note = g.Notes[si]
			}
			nx := left + 6
			if v > 0 {
				nx = xOf(v) + 6
			}
			text(img, nx, by+barH-5, note, colBlack, 1)
		}
	}
	// target line over the bars
	if c.Target > 0 {
		x := xOf(c.Target)
		for yy := top - 4; yy < plotBottom; yy += 8 {
			fillRect(img, image.Rect(x-1, yy, x+1, min(yy+5, plotBottom)), colTarget)
		}
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

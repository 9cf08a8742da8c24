// Package plot draws the small PNG charts of ggufy's reports (quality against size of the
// quantization variants) with the standard library only.
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"unicode"
)

// Point is one labelled point.
type Point struct {
	X, Y  float64
	Label string
}

// Chart is a scatter chart with labelled points, joined in X order.
type Chart struct {
	Title, XLabel, YLabel string
	Points                []Point
	LogY                  bool // logarithmic Y axis (KLD spans decades)
	Width, Height         int
}

var (
	bg    = color.RGBA{255, 255, 255, 255}
	axis  = color.RGBA{60, 60, 60, 255}
	grid  = color.RGBA{225, 225, 225, 255}
	line  = color.RGBA{70, 130, 180, 255}
	dot   = color.RGBA{200, 60, 40, 255}
	label = color.RGBA{20, 20, 20, 255}
)

// WritePNG renders the chart.
func (c *Chart) WritePNG(w io.Writer) error {
	W, H := c.Width, c.Height
	if W == 0 {
		W = 800
	}
	if H == 0 {
		H = 500
	}
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	const left, right, top, bottom = 80, 30, 40, 60
	pw, ph := W-left-right, H-top-bottom
	if len(c.Points) == 0 {
		text(img, left, top, "NO DATA", label)
		return png.Encode(w, img)
	}
	ty := func(y float64) float64 {
		if c.LogY {
			return math.Log10(math.Max(y, 1e-12))
		}
		return y
	}
	minX, maxX := math.Inf(1), math.Inf(-1)
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, p := range c.Points {
		minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
		minY, maxY = math.Min(minY, ty(p.Y)), math.Max(maxY, ty(p.Y))
	}
	padX, padY := (maxX-minX)*0.08+1e-9, (maxY-minY)*0.1+1e-9
	minX, maxX, minY, maxY = minX-padX, maxX+padX, minY-padY, maxY+padY
	px := func(x float64) int { return left + int(float64(pw)*(x-minX)/(maxX-minX)) }
	py := func(y float64) int { return top + ph - int(float64(ph)*(ty(y)-minY)/(maxY-minY)) }
	// grid and ticks
	for i := 0; i <= 5; i++ {
		gx := minX + (maxX-minX)*float64(i)/5
		x := px(gx)
		vline(img, x, top, top+ph, grid)
		text(img, x-12, top+ph+8, fmtNum(gx), axis)
		gyT := minY + (maxY-minY)*float64(i)/5
		gy := gyT
		if c.LogY {
			gy = math.Pow(10, gyT)
		}
		y := top + ph - int(float64(ph)*float64(i)/5)
		hline(img, left, left+pw, y, grid)
		text(img, 4, y-3, fmtNum(gy), axis)
	}
	hline(img, left, left+pw, top+ph, axis)
	vline(img, left, top, top+ph, axis)
	text(img, left, 12, c.Title, label)
	text(img, left+pw/2-len(c.XLabel)*3, H-20, c.XLabel, label)
	text(img, 4, top-16, c.YLabel, label)
	// points in X order, joined
	pts := append([]Point(nil), c.Points...)
	for i := 1; i < len(pts); i++ {
		for j := i; j > 0 && pts[j].X < pts[j-1].X; j-- {
			pts[j], pts[j-1] = pts[j-1], pts[j]
		}
	}
	for i := 1; i < len(pts); i++ {
		segment(img, px(pts[i-1].X), py(pts[i-1].Y), px(pts[i].X), py(pts[i].Y), line)
	}
	for _, p := range pts {
		x, y := px(p.X), py(p.Y)
		for dy := -3; dy <= 3; dy++ {
			for dx := -3; dx <= 3; dx++ {
				if dx*dx+dy*dy <= 9 {
					img.Set(x+dx, y+dy, dot)
				}
			}
		}
		text(img, x+6, y-10, p.Label, label)
	}
	return png.Encode(w, img)
}

func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.001:
		return fmt.Sprintf("%.4f", v)
	}
	return strings.ToUpper(fmt.Sprintf("%.1e", v))
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

// segment draws a line with Bresenham's algorithm.
func segment(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// text draws s with the 5x7 font (upper-cased; unknown characters as blanks).
func text(img *image.RGBA, x, y int, s string, c color.Color) {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if !ok && !unicode.IsSpace(r) {
			g = glyphs['-']
		}
		for row := 0; row < 7; row++ {
			for col := 0; col < 5; col++ {
				if g[row]&(1<<(4-col)) != 0 {
					img.Set(x+col, y+row, c)
				}
			}
		}
		x += 6
	}
}

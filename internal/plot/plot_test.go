package plot

import (
	"bytes"
	"image/png"
	"testing"
)

func TestWritePNG(t *testing.T) {
	c := &Chart{Title: "KLD vs size", XLabel: "GiB", YLabel: "KLD", LogY: true, Points: []Point{
		{4.58, 0.031, "Q4_K_M"}, {5.33, 0.0107, "Q5_K_M"}, {7.96, 0.0013, "Q8_0"}}}
	var buf bytes.Buffer
	if err := c.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 500 {
		t.Fatalf("size %v", b)
	}
	// The point color must appear: points were drawn.
	found := false
	for y := 0; y < 500 && !found; y++ {
		for x := 0; x < 800; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 == 200 && g>>8 == 60 && b>>8 == 40 {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("no points drawn")
	}
	if err := (&Chart{}).WritePNG(&buf); err != nil {
		t.Error(err)
	}
}

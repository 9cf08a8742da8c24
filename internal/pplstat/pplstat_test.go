package pplstat

import (
	"math"
	"testing"
)

func TestPercentileMedian(t *testing.T) {
	v := []float64{0, 1, 2, 3, 4}
	for _, c := range []struct {
		f    float32
		want float64
	}{{-1, 0}, {0, 0}, {0.3, 1.2}, {0.5, 2}, {0.999, 3.996}, {1, 4}, {2, 4}} {
		if got := Percentile(v, c.f); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("Percentile(%g) = %g, want %g", c.f, got, c.want)
		}
	}
	if got := Median([]float64{1, 2, 3, 4}); got != 2.5 {
		t.Errorf("even median %g, want 2.5", got)
	}
	if got := Median([]float64{1, 5, 9}); got != 5 {
		t.Errorf("odd median %g, want 5", got)
	}
}

func TestMeanUncCovariance(t *testing.T) {
	var s, s2 float64
	for i := 1; i <= 11; i++ {
		s += float64(i)
		s2 += float64(i * i)
	}
	if m, u := MeanUnc(s, s2, 11); m != 6 || math.Abs(u-1) > 1e-12 {
		t.Errorf("MeanUnc of 1..11 = %g ± %g, want 6 ± 1", m, u)
	}
	if m, u := MeanUnc(55, 385, 10); m != 5.5 || u != 0 {
		t.Errorf("MeanUnc of 1..10 = %g ± %g, want 5.5 ± 0 (ten values or fewer)", m, u)
	}
	if m, u := MeanUnc(1, 1, 0); m != 0 || u != 0 {
		t.Errorf("MeanUnc of nothing = %g ± %g", m, u)
	}
	if c := Covariance(s, s, s2, 11); math.Abs(c-1) > 1e-12 {
		t.Errorf("Covariance of 1..11 with itself %g, want 1 (the variance of the mean)", c)
	}
	if c := Covariance(45, 45, 285, 9); c != 0 {
		t.Errorf("Covariance of 9 values %g, want 0", c)
	}
}

func TestPPL(t *testing.T) {
	if m, p, e := PPL(3, 3, 3); m != 1 || p != math.E || !math.IsNaN(e) {
		t.Errorf("PPL of three 1s = %g, %g ± %g; want 1, e ± NaN", m, p, e)
	}
	m, p, e := PPL(1+3, 1+9, 2)
	if m != 2 || p != math.Exp(2) || math.Abs(e-math.Exp(2)) > 1e-12 {
		t.Errorf("PPL of 1, 3 = %g, %g ± %g; want 2, e² ± e²", m, p, e)
	}
}

func TestCompareAndSums(t *testing.T) {
	if got := LogSoftmaxAt([]float32{0, 0}, 1); got != -math.Ln2 {
		t.Errorf("LogSoftmaxAt of two equal logits %g, want -ln 2", got)
	}
	base := []float32{1, 3, 2, 3}
	test := []float32{2, 1, 0, -1}
	lb, lt := make([]float64, 4), make([]float64, 4)
	if p := Compare(base, base, 2, lb, lt); p.KLD != 0 || p.PDiff != 0 || !p.Same || p.NLL != p.NLLBase {
		t.Errorf("a row against itself: %+v", p)
	}
	if Argmax(base) != 1 {
		t.Errorf("Argmax %d, want the first largest, 1", Argmax(base))
	}
	p := Compare(base, test, 0, lb, lt)
	var kld float64
	for i := range lb {
		kld += math.Exp(lb[i]) * (lb[i] - lt[i])
	}
	if p.Same || p.KLD <= 0 || p.KLD != kld || p.PDiff <= 0 || p.NLL != -lt[0] || p.NLLBase != -lb[0] {
		t.Errorf("base %v against test %v: %+v", base, test, p)
	}
	var s Sums
	s.Add(p)
	s.Add(Compare(base, base, 1, lb, lt))
	r := s.Summary()
	if s.Count != 2 || s.Same != 1 || r.Top1 != 50 || r.KLDMean != p.KLD/2 || r.KLDErr != 0 || !math.IsNaN(r.CorLnPPL) {
		t.Errorf("sums %+v, summary %+v", s, r)
	}
}

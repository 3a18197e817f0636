package sqlclass
import ("testing";"time";"os")
func TestHang(t *testing.T) {
	for _, f := range []string{"/tmp/fz/5023","/tmp/fz/5029"} {
		b, _ := os.ReadFile(f)
		q := string(b)
		for _, o := range []Options{{}, {true,false},{false,true},{true,true}} {
		s := time.Now()
		Classify(q, o)
		t.Log(f, o, "classify", time.Since(s))
		s = time.Now()
		Tables(q, o)
		t.Log(f, o, "tables", time.Since(s))
		}
	}
}

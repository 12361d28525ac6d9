package sdk

import (
	"reflect"
	"testing"
)

// SameSession tells apart sessions that differ in any one field, so that
// a batch never sends a call's session as the shared one when it is not
// (a field added to Session without a line in SameSession fails here).
func TestSameSessionEveryField(t *testing.T) {
	var zero Session
	if !SameSession(&zero, &Session{}) {
		t.Fatal("two zero sessions differ")
	}
	typ := reflect.TypeOf(zero)
	for i := range typ.NumField() {
		var s Session
		f := reflect.ValueOf(&s).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Int:
			f.SetInt(1)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Map:
			f.Set(reflect.ValueOf(map[string]string{"k": "v"}))
		default:
			t.Fatalf("field %s of kind %s: teach this test", typ.Field(i).Name, f.Kind())
		}
		if SameSession(&s, &zero) || SameSession(&zero, &s) {
			t.Errorf("SameSession ignores %s", typ.Field(i).Name)
		}
	}
	a, b := Session{Notes: map[string]string{"k": "v"}}, Session{Notes: map[string]string{"k": "w"}}
	if SameSession(&a, &b) {
		t.Error("notes with another value are the same")
	}
	if !SameSession(&a, &Session{Notes: map[string]string{"k": "v"}}) {
		t.Error("equal notes in two maps differ")
	}
}

// Apply never writes to the map it is given (a call sent, or a snapshot,
// may share it), and without notes costs nothing.
func TestSetNoteApplyCopies(t *testing.T) {
	orig := map[string]string{"a": "1"}
	m, err := SetNote{Key: "b", Value: "2"}.Apply(orig)
	if err != nil || len(orig) != 1 || m["a"] != "1" || m["b"] != "2" {
		t.Fatalf("set: %v %v %v", m, orig, err)
	}
	if m, err = (SetNote{Key: "a", Value: ""}).Apply(orig); err != nil || m != nil || orig["a"] != "1" {
		t.Fatalf("delete: %v %v %v", m, orig, err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = sameNotes(nil, nil) }); n != 0 {
		t.Fatalf("%v allocations comparing no notes", n)
	}
	s, buf := Session{ID: "x", ClientIP: "192.0.2.1"}, make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { buf, _ = appendSession(buf[:0], &s) }); n != 0 {
		t.Fatalf("%v allocations encoding a session without notes", n)
	}
}

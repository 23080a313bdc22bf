package awssim

import (
	"net/http"
	"net/url"
	"time"
)

// STUB: replaced by the Auto Scaling model.
type asgModel struct{ s *Sim }

func newASGModel(s *Sim) *asgModel { return &asgModel{s: s} }

func (m *asgModel) handle(op string, _ url.Values) (any, *apiError) {
	return nil, &apiError{Code: "InvalidAction", Message: "The action " + op + " is not valid for this web service.", Status: http.StatusBadRequest}
}
func (m *asgModel) step(time.Time)                        {}
func (m *asgModel) countByLifecycleState() map[string]int { return nil }

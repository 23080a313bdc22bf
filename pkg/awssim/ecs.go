package awssim

import (
	"net/http"
	"time"
)

// STUB: replaced by the ECS model.
type ecsModel struct{ s *Sim }

func newECSModel(s *Sim) *ecsModel { return &ecsModel{s: s} }

func (m *ecsModel) handle(op string, _ []byte) (any, *apiError) {
	return nil, &apiError{Code: "UnknownOperationException", Message: "Unknown operation " + op, Status: http.StatusBadRequest}
}
func (m *ecsModel) step(time.Time)                                            {}
func (m *ecsModel) countContainerInstancesByStatus() map[string]int           { return nil }
func (m *ecsModel) countTasksByLastStatus() map[string]int                    { return nil }
func (m *ecsModel) registerInstance(cluster, ec2InstanceID string, slots int) {}
func (m *ecsModel) hostTerminated(ec2InstanceID string) int                   { return 0 }

package awssim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

const (
	asgXMLNS     = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
	ecsTarget    = "AmazonEC2ContainerServiceV20141113."
	jsonMimeType = "application/x-amz-json-1.1"

	serviceAutoScaling = "autoscaling"
	serviceECS         = "ecs"
	serviceSQS         = "sqs"
	serviceEvents      = "events"

	// unknownOp is the metrics label of every operation the simulator does not implement, and of
	// requests refused before naming one (malformed, missing Action, foreign X-Amz-Target).
	unknownOp = "unknown"

	// maxBody bounds a request body; real requests of this API slice are a few KiB.
	maxBody = 4 << 20
)

// serveAPI routes a request to the protocol it speaks, as AWS's endpoints tell them apart: JSON
// requests carry X-Amz-Target (AmazonSQS.<Op> for SQS, AWSEvents.<Op> for EventBridge, ECS's
// prefix otherwise); form posts carry Action, an SQS one (or one sent to a queue URL) for SQS's
// Query protocol, else Auto Scaling's.
func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	latency := s.opts.Latency // SetFaults may change it while requests are served
	s.mu.Unlock()
	if latency > 0 {
		// Latency is wall time on purpose: it models the network, not the service's clock.
		time.Sleep(latency)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	reqID := uuid.NewString()
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		switch {
		case strings.HasPrefix(target, sqsTargetPrefix):
			if len(bytes.TrimSpace(body)) == 0 {
				body = []byte("{}")
			}
			s.serveSQS(w, r, strings.TrimPrefix(target, sqsTargetPrefix), body, reqID, false)
		case strings.HasPrefix(target, eventsTargetPrefix):
			s.serveEvents(w, target, body, reqID)
		default:
			s.serveECS(w, target, body, reqID)
		}
		return
	}
	if form, err := url.ParseQuery(string(body)); err == nil {
		// Older SQS clients may put parameters in the URL's query string too.
		for k, v := range r.URL.Query() {
			if _, ok := form[k]; !ok {
				form[k] = v
			}
		}
		if s.isSQSQuery(r.URL.Path, form) {
			s.serveSQSQuery(w, r, form, reqID)
			return
		}
	}
	s.serveAutoScaling(w, body, reqID)
}

// noOutputShape are the Auto Scaling operations the API model gives no output shape.
var noOutputShape = map[string]bool{
	"CreateAutoScalingGroup": true, "UpdateAutoScalingGroup": true, "SetDesiredCapacity": true,
	"DeleteAutoScalingGroup": true, "CreateOrUpdateTags": true,
}

func (s *Sim) serveAutoScaling(w http.ResponseWriter, body []byte, reqID string) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.refuse(serviceAutoScaling, malformedQuery(err), func(e *apiError) { writeQueryError(w, reqID, e) })
		return
	}
	op := form.Get("Action")
	if op == "" {
		s.refuse(serviceAutoScaling, missingAction(), func(e *apiError) { writeQueryError(w, reqID, e) })
		return
	}

	s.mu.Lock()
	var result any
	var apiErr *apiError
	if !s.asg.known(op) {
		// Checked before throttling and counting: an unknown name is client input and must not
		// become a metric label or a token bucket.
		result, apiErr = s.asg.handle(op, form)
		op = unknownOp
	} else if result, apiErr = s.admit(serviceAutoScaling, op); apiErr == nil {
		result, apiErr = s.asg.handle(op, form)
	}
	hostile := s.hostileLocked(op, apiErr == nil) // drawn for every request, so a seed's draws do not depend on errors
	s.record(serviceAutoScaling, op, apiErr, hostile)
	s.mu.Unlock()

	if apiErr != nil {
		writeQueryError(w, reqID, apiErr)
		return
	}
	var inner []byte
	switch {
	case noOutputShape[op]:
		// The model gives these operations no output, so AWS's answer carries no Result element.
	case result != nil:
		inner, err = xml.Marshal(result)
		if err != nil {
			// Cannot happen with the model's result types; counted as OK, since the request was applied.
			writeQueryError(w, reqID, internalFailure(fmt.Sprintf("encoding %s result: %v", op, err)))
			return
		}
	default:
		inner = []byte("<" + op + "Result/>")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, op, asgXMLNS)
	b.Write(inner)
	fmt.Fprintf(&b, `<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, reqID, op)
	writeBody(w, "text/xml", http.StatusOK, b.Bytes(), hostile)
}

func (s *Sim) serveECS(w http.ResponseWriter, target string, body []byte, reqID string) {
	s.serveJSON(w, serviceECS, ecsTarget, target, body, reqID, s.ecs.handlers)
}

func (s *Sim) serveEvents(w http.ResponseWriter, target string, body []byte, reqID string) {
	s.serveJSON(w, serviceEvents, eventsTargetPrefix, target, body, reqID, s.events.handlers)
}

// serveJSON serves a JSON 1.1 service (ECS, EventBridge): the operation is X-Amz-Target after
// prefix.
func (s *Sim) serveJSON(w http.ResponseWriter, service, prefix, target string, body []byte, reqID string, handlers map[string]func([]byte) (any, *apiError)) {
	op, ok := strings.CutPrefix(target, prefix)
	if !ok {
		s.refuse(service, unknownTarget(target), func(e *apiError) { writeJSONError(w, reqID, e) })
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}

	s.mu.Lock()
	var result any
	var apiErr *apiError
	if h, known := handlers[op]; !known {
		// The protocol's unknown-operation error; an unknown name never becomes a metric label.
		apiErr = unknownOperation(op)
		op = unknownOp
	} else if result, apiErr = s.admit(service, op); apiErr == nil {
		result, apiErr = h(body)
	}
	hostile := s.hostileLocked(op, apiErr == nil) // drawn for every request, so a seed's draws do not depend on errors
	s.record(service, op, apiErr, hostile)
	s.mu.Unlock()

	if apiErr != nil {
		writeJSONError(w, reqID, apiErr)
		return
	}
	if result == nil {
		result = struct{}{}
	}
	out, err := json.Marshal(result)
	if err != nil {
		// Cannot happen with the model's result types; counted as OK, since the request was applied.
		writeJSONError(w, reqID, serverException(fmt.Sprintf("encoding %s result: %v", op, err)))
		return
	}
	w.Header().Set("X-Amzn-Requestid", reqID)
	writeBody(w, jsonMimeType, http.StatusOK, out, hostile)
}

// refuse answers a request turned away before its operation is known (it cannot be parsed or names
// no operation), counting it under operation "unknown" like any other request.
func (s *Sim) refuse(service string, e *apiError, write func(*apiError)) {
	s.mu.Lock()
	s.record(service, unknownOp, e, hostileNone)
	s.mu.Unlock()
	write(e)
}

func writeQueryError(w http.ResponseWriter, reqID string, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>`, asgXMLNS, typ, e.Code)
	_ = xml.EscapeText(&b, []byte(e.Message))
	fmt.Fprintf(&b, `</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, reqID)
	writeBody(w, "text/xml", e.Status, b.Bytes(), hostileNone)
}

func writeJSONError(w http.ResponseWriter, reqID string, e *apiError) {
	out, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.Header().Set("X-Amzn-Requestid", reqID)
	writeBody(w, jsonMimeType, e.Status, out, hostileNone)
}

func writeBody(w http.ResponseWriter, contentType string, status int, body []byte, h hostileKind) {
	body, status = h.apply(body, status)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

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

	// unknownOp is the metrics label of every operation the simulator does not implement, and of
	// requests refused before naming one (malformed, missing Action, foreign X-Amz-Target).
	unknownOp = "unknown"

	// maxBody bounds a request body; real requests of this API slice are a few KiB.
	maxBody = 4 << 20
)

// serveAPI routes a request to the protocol it speaks: ECS requests carry X-Amz-Target, Auto Scaling
// requests are form posts carrying Action.
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
		s.serveECS(w, target, body, reqID)
		return
	}
	s.serveAutoScaling(w, body, reqID)
}

func (s *Sim) serveAutoScaling(w http.ResponseWriter, body []byte, reqID string) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.refuse(serviceAutoScaling, &apiError{Code: "MalformedQueryString", Message: "The query string is malformed: " + err.Error(), Status: http.StatusBadRequest}, func(e *apiError) { writeQueryError(w, reqID, e) })
		return
	}
	op := form.Get("Action")
	if op == "" {
		s.refuse(serviceAutoScaling, &apiError{Code: "MissingAction", Message: "Request is missing Action parameter.", Status: http.StatusBadRequest}, func(e *apiError) { writeQueryError(w, reqID, e) })
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
	if result != nil {
		inner, err = xml.Marshal(result)
		if err != nil {
			// Cannot happen with the model's result types; counted as OK, since the request was applied.
			writeQueryError(w, reqID, internalFailure(fmt.Sprintf("encoding %s result: %v", op, err)))
			return
		}
	} else {
		inner = []byte("<" + op + "Result/>")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, op, asgXMLNS)
	b.Write(inner)
	fmt.Fprintf(&b, `<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, reqID, op)
	writeBody(w, "text/xml", http.StatusOK, b.Bytes(), hostile)
}

func (s *Sim) serveECS(w http.ResponseWriter, target string, body []byte, reqID string) {
	op, ok := strings.CutPrefix(target, ecsTarget)
	if !ok {
		s.refuse(serviceECS, &apiError{Code: "UnknownOperationException", Message: "Unknown target " + target, Status: http.StatusBadRequest}, func(e *apiError) { writeJSONError(w, reqID, e) })
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}

	s.mu.Lock()
	var result any
	var apiErr *apiError
	if _, known := s.ecs.handlers[op]; !known {
		result, apiErr = s.ecs.handle(op, body) // the protocol's unknown-operation error
		op = unknownOp
	} else if result, apiErr = s.admit(serviceECS, op); apiErr == nil {
		result, apiErr = s.ecs.handle(op, body)
	}
	hostile := s.hostileLocked(op, apiErr == nil) // drawn for every request, so a seed's draws do not depend on errors
	s.record(serviceECS, op, apiErr, hostile)
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
		writeJSONError(w, reqID, &apiError{Code: "ServerException", Message: fmt.Sprintf("encoding %s result: %v", op, err), Status: http.StatusInternalServerError})
		return
	}
	w.Header().Set("X-Amzn-Requestid", reqID)
	writeBody(w, jsonMimeType, http.StatusOK, out, hostile)
}

// admit applies the account's faults before an operation runs: token-bucket throttling first (as
// AWS rejects before doing work), then the failures asked for by FailNext, then the injected error
// rate. An admitted request returns nil, nil.
func (s *Sim) admit(service, op string) (any, *apiError) {
	if s.opts.Throttle && !s.takeToken(service, op) {
		if service == serviceECS {
			return nil, &apiError{Code: "ThrottlingException", Message: "Rate exceeded", Status: http.StatusBadRequest}
		}
		return nil, &apiError{Code: "Throttling", Message: "Rate exceeded", Status: http.StatusBadRequest}
	}
	drawn := s.opts.ErrorRate > 0 && s.rng.Float64() < s.opts.ErrorRate // drawn first: FailNext leaves the seed's draws alone
	if takeOne(s.failNext, op) || drawn {
		if service == serviceECS {
			return nil, &apiError{Code: "ServerException", Message: "Service encountered an internal error (injected).", Status: http.StatusInternalServerError}
		}
		return nil, internalFailure("An internal error occurred (injected).")
	}
	return nil, nil
}

func internalFailure(msg string) *apiError {
	return &apiError{Code: "InternalFailure", Message: msg, Status: http.StatusInternalServerError}
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

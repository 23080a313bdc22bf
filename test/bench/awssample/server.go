package awssample

import (
	"encoding/json"
	"io"
	"net/http"
)

// maxMessage is SNS's largest message (256 KiB); a lifecycle notification is well under 1 KiB.
const maxMessage = 256 << 10

// Handler serves the runtime over HTTP on loopback:
//
//   - POST /topics/{name}: publish the request body (a lifecycle notification) to the topic, as
//     Auto Scaling does through the hook's NotificationTargetARN. The benchmark harness stands in
//     for Auto Scaling here, since awssim sends no notification to SNS. The optional header
//     X-Subject is the message's subject. Answers {"MessageId": ...}.
//   - GET /stats: Stats as JSON.
//   - GET /healthz.
func (r *Runtime) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, r.Stats())
	})
	mux.HandleFunc("POST /topics/{name}", func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxMessage))
		if err != nil || len(body) == 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "the body must be the message, at most 256 KiB"})
			return
		}
		id, err := r.Notify(req.PathValue("name"), req.Header.Get("X-Subject"), string(body))
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"MessageId": id})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

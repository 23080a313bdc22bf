package awssim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// SQS answers two protocols on one endpoint. The JSON 1.0 protocol (aws-sdk-go-v2 since v1.28,
// boto3 since 2023) posts {"QueueUrl":...} with X-Amz-Target: AmazonSQS.<Op>. The Query protocol
// (older SDKs and CLIs, such as Debian's AWS CLI 2.9) posts an Action= form, to the queue URL or to
// the endpoint, and reads XML. A Query request is turned into the JSON request shape, so both run
// the same operation code; the answer is the same value encoded either way.

// sqsQueryInts are the integer members a Query request carries as text.
var sqsQueryInts = map[string]bool{"DelaySeconds": true, "MaxNumberOfMessages": true, "VisibilityTimeout": true, "WaitTimeSeconds": true, "MaxResults": true}

// sqsQueryLists maps a flattened Query list name to its JSON member.
var sqsQueryLists = map[string]string{
	"AttributeName": "AttributeNames", "MessageAttributeName": "MessageAttributeNames", "MessageSystemAttributeName": "MessageSystemAttributeNames",
}

// queryToJSON turns an SQS Query form into the JSON request of the operation. Unknown parameters
// are ignored, as the JSON decoder ignores unknown members.
func queryToJSON(form url.Values) ([]byte, *apiError) {
	out, err := queryMembers(form, "")
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(out) // maps of strings, numbers and lists always encode
	return b, nil
}

// queryMembers reads the members under prefix ("" or "SendMessageBatchRequestEntry.3.").
func queryMembers(form url.Values, prefix string) (map[string]any, *apiError) {
	out := map[string]any{}
	groups := map[string]map[int]bool{} // flattened name -> indices seen
	for key := range form {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok || (prefix == "" && (key == "Action" || key == "Version")) {
			continue
		}
		name, sub, nested := strings.Cut(rest, ".")
		if !nested {
			v := form.Get(key)
			if sqsQueryInts[name] {
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, sqsInvalidParam(fmt.Sprintf("Value %s for parameter %s is invalid. Reason: must be an integer.", v, name))
				}
				out[name] = n
				continue
			}
			out[name] = v
			continue
		}
		idx, _, _ := strings.Cut(sub, ".")
		if n, err := strconv.Atoi(idx); err == nil && n >= 1 {
			if groups[name] == nil {
				groups[name] = map[int]bool{}
			}
			groups[name][n] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		idx := slices.Sorted(maps.Keys(groups[name]))
		if err := queryGroup(form, prefix, name, idx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// queryGroup reads one flattened list or map, "<prefix><name>.<N>[.field]", into out.
func queryGroup(form url.Values, prefix, name string, idx []int, out map[string]any) *apiError {
	at := func(n int, field string) string {
		k := prefix + name + "." + strconv.Itoa(n)
		if field != "" {
			k += "." + field
		}
		return form.Get(k)
	}
	switch name {
	case "Attribute", "Tag":
		key, member := "Name", "Attributes"
		if name == "Tag" {
			key, member = "Key", "tags"
		}
		m := map[string]string{}
		for _, n := range idx {
			m[at(n, key)] = at(n, "Value")
		}
		out[member] = m
	case "MessageAttribute":
		m := map[string]any{}
		for _, n := range idx {
			v := map[string]any{"DataType": at(n, "Value.DataType")}
			if s := at(n, "Value.StringValue"); s != "" {
				v["StringValue"] = s
			}
			if b := at(n, "Value.BinaryValue"); b != "" {
				v["BinaryValue"] = b
			}
			m[at(n, "Name")] = v
		}
		out["MessageAttributes"] = m
	case "SendMessageBatchRequestEntry", "DeleteMessageBatchRequestEntry":
		var entries []any
		for _, n := range idx {
			e, err := queryMembers(form, prefix+name+"."+strconv.Itoa(n)+".")
			if err != nil {
				return err
			}
			entries = append(entries, e)
		}
		out["Entries"] = entries
	default:
		if member, ok := sqsQueryLists[name]; ok {
			var l []string
			for _, n := range idx {
				l = append(l, at(n, ""))
			}
			out[member] = l
		}
	}
	return nil
}

// sqsMap is a string map: a JSON object, or in XML the flattened <Name>/<Value> entries SQS uses
// for queue and system attributes, in name order.
type sqsMap map[string]string

func (m sqsMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		entry := struct {
			Name  string `xml:"Name"`
			Value string `xml:"Value"`
		}{k, m[k]}
		if err := e.EncodeElement(entry, start); err != nil {
			return err
		}
	}
	return nil
}

// sqsAttrMap is message attributes: a JSON object of MessageAttributeValue, or flattened
// <MessageAttribute><Name/><Value>...</Value></MessageAttribute> entries in XML, binary as base64.
type sqsAttrMap map[string]sqsAttrValue

func (m sqsAttrMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	type value struct {
		StringValue string `xml:"StringValue,omitempty"`
		BinaryValue string `xml:"BinaryValue,omitempty"`
		DataType    string `xml:"DataType"`
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		a := m[k]
		entry := struct {
			Name  string `xml:"Name"`
			Value value  `xml:"Value"`
		}{k, value{StringValue: a.StringValue, DataType: a.DataType}}
		if len(a.BinaryValue) > 0 {
			entry.Value.BinaryValue = base64.StdEncoding.EncodeToString(a.BinaryValue)
		}
		if err := e.EncodeElement(entry, start); err != nil {
			return err
		}
	}
	return nil
}

// isSQSQuery reports whether a form post is an SQS Query request: it names an SQS operation, or
// goes to a queue URL's path, as Query clients send queue operations to the queue URL.
func (s *Sim) isSQSQuery(path string, form url.Values) bool {
	if _, ok := s.sqs.handlers[form.Get("Action")]; ok {
		return true
	}
	return form.Get("Version") == sqsQueryVersion || strings.HasPrefix(path, "/"+s.opts.AccountID+"/")
}

// serveSQS runs one SQS request, given as its JSON 1.0 body, and answers in the protocol it came
// in (query: XML). A ReceiveMessage that waits does so outside the lock.
func (s *Sim) serveSQS(w http.ResponseWriter, r *http.Request, op string, body []byte, reqID string, query bool) {
	s.mu.Lock()
	s.sqs.baseURL = "http://" + r.Host
	var result any
	var apiErr *apiError
	if _, known := s.sqs.handlers[op]; !known {
		apiErr = sqsUnknownOp(op, query)
		op = unknownOp
	} else if result, apiErr = s.admit(serviceSQS, op); apiErr == nil {
		result, apiErr = s.sqs.handlers[op](body)
	}
	if p, ok := result.(*sqsPoll); ok {
		s.mu.Unlock()
		result = s.waitPoll(r.Context(), p)
		s.mu.Lock()
	}
	hostile := s.hostileLocked(op, apiErr == nil)
	s.record(serviceSQS, op, apiErr, hostile)
	s.mu.Unlock()

	switch {
	case apiErr != nil && query:
		writeSQSQueryError(w, reqID, apiErr)
	case apiErr != nil:
		writeSQSJSONError(w, reqID, apiErr)
	case query:
		writeSQSQuery(w, reqID, op, result, hostile)
	default:
		if result == nil {
			result = struct{}{}
		}
		out, _ := json.Marshal(result) // the operations' result types always encode
		w.Header().Set("X-Amzn-Requestid", reqID)
		writeBody(w, sqsJSONMime, http.StatusOK, out, hostile)
	}
}

// serveSQSQuery runs a Query-protocol SQS request. Queue operations may name the queue by the
// request's path alone.
func (s *Sim) serveSQSQuery(w http.ResponseWriter, r *http.Request, form url.Values, reqID string) {
	op := form.Get("Action")
	if op == "" {
		s.refuse(serviceSQS, sqsErr("MissingAction", "MissingAction", http.StatusBadRequest, "No Action was supplied."), func(e *apiError) { writeSQSQueryError(w, reqID, e) })
		return
	}
	if form.Get("QueueUrl") == "" && strings.Count(r.URL.Path, "/") == 2 {
		form.Set("QueueUrl", r.URL.Path)
	}
	body, err := queryToJSON(form)
	if err != nil {
		s.refuse(serviceSQS, err, func(e *apiError) { writeSQSQueryError(w, reqID, e) })
		return
	}
	s.serveSQS(w, r, op, body, reqID, true)
}

func writeSQSQuery(w http.ResponseWriter, reqID, op string, result any, h hostileKind) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, op, sqsXMLNS)
	// Operations without an output shape (DeleteMessage, ...) answer with no Result element.
	if result != nil {
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: op + "Result"}}); err != nil {
			writeSQSQueryError(w, reqID, internalFailure(fmt.Sprintf("encoding %s result: %v", op, err)))
			return
		}
	}
	fmt.Fprintf(&b, `<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, reqID, op)
	writeBody(w, "text/xml", http.StatusOK, b.Bytes(), h)
}

func writeSQSQueryError(w http.ResponseWriter, reqID string, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>`, sqsXMLNS, typ, e.QueryCodeOrCode())
	_ = xml.EscapeText(&b, []byte(e.Message))
	fmt.Fprintf(&b, `</Message><Detail/></Error><RequestId>%s</RequestId></ErrorResponse>`, reqID)
	writeBody(w, "text/xml", e.Status, b.Bytes(), hostileNone)
}

// writeSQSJSONError writes SQS's JSON error: the shape in __type, namespaced as SQS sends it, and
// the Query code in x-amzn-query-error, which query-compatible SDKs report as the error code.
func writeSQSJSONError(w http.ResponseWriter, reqID string, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	out, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.sqs#" + e.Code, "message": e.Message})
	w.Header().Set("X-Amzn-Query-Error", e.QueryCodeOrCode()+";"+typ)
	w.Header().Set("X-Amzn-Requestid", reqID)
	writeBody(w, sqsJSONMime, e.Status, out, hostileNone)
}

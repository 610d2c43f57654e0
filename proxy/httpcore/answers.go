package httpcore

import "fmt"

// Answers are the responses the proxy sends itself, for one service:
// short plain-text bodies that name the service, so an operator reading a
// client's error knows which proxy and service answered. Every path sends
// the same ones; HTTP/1.1 clients get them whole with Connection: close.
type Answers struct {
	h1   map[int][]byte
	body map[int][]byte
}

// AnswerContentType is the content type of the canned answers.
const AnswerContentType = "text/plain; charset=utf-8"

// answerCodes are the statuses the proxy answers with itself.
var answerCodes = map[int]string{
	400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large",
	501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}

// NewAnswers builds the answers of the service named service.
func NewAnswers(service string) *Answers {
	a := &Answers{h1: map[int][]byte{}, body: map[int][]byte{}}
	for code, text := range answerCodes {
		body := fmt.Appendf(nil, "%d %s (service %s)\n", code, text, service)
		a.body[code] = body
		a.h1[code] = fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n%s",
			code, text, AnswerContentType, len(body), body)
	}
	return a
}

// H1 is the whole HTTP/1.1 answer with status code (one of the proxy's own).
func (a *Answers) H1(code int) []byte { return a.h1[code] }

// Body is the body of the answer with status code.
func (a *Answers) Body(code int) []byte { return a.body[code] }

package alert

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"

	"github.com/baton-sched/baton/internal/config"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/executor"
)

// Channel kinds.
const (
	KindWebhook = "webhook"
	KindEmail   = "email"
)

// Webhook signing schemes.
const (
	// SignHeader puts "sha256=<hex HMAC-SHA256 of the body>" in a header
	// (SignatureHeader, default X-Baton-Signature). The default when a
	// secret is set.
	SignHeader = "header"
	// SignDingTalk adds DingTalk's timestamp and sign query parameters
	// (a robot with 加签 security).
	SignDingTalk = "dingtalk"
	// SignFeishu adds Feishu's timestamp and sign fields to the JSON body
	// (a bot with signature verification).
	SignFeishu = "feishu"
)

// DefaultSignatureHeader carries the HMAC of SignHeader.
const DefaultSignatureHeader = "X-Baton-Signature"

// Email transport security.
const (
	TLSStartTLS = "starttls" // plain connect, then STARTTLS, required (default; port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: a local relay only, and never with a password
)

// Channel is an alert channel's configuration. Secret fields (the webhook
// URL, whose token is the credential of DingTalk, Feishu and Slack
// hooks, the HMAC secret and the SMTP password) are plaintext here only
// in memory: stored, they are sealed or env:NAME references.
type Channel struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Webhook *Webhook `json:"webhook,omitempty"`
	Email   *Email   `json:"email,omitempty"`
}

// Webhook posts the rendered body to URL.
type Webhook struct {
	URL string `json:"url"`
	// URLHost is the URL's scheme and host, kept in clear when the URL is
	// sealed so that channels can be told apart; set by Sealer.Seal.
	URLHost string `json:"url_host,omitempty"`
	// Template is a built-in body: generic (default), dingtalk, wecom,
	// feishu or slack. Body, when set, replaces it.
	Template string `json:"template,omitempty"`
	// Body is a custom text/template rendering the request body; its data
	// is a Message. Without a Content-Type header it must render JSON.
	Body    string            `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Secret keys the signature; Sign picks the scheme.
	Secret          string `json:"secret,omitempty"`
	Sign            string `json:"sign,omitempty"`
	SignatureHeader string `json:"signature_header,omitempty"`
}

// Email sends the message as a plain-text mail through an SMTP server.
type Email struct {
	Host string `json:"host"`
	// Port defaults by TLS: 587 starttls, 465 tls, 25 none.
	Port     int      `json:"port,omitempty"`
	TLS      string   `json:"tls,omitempty"`
	Username string   `json:"username,omitempty"`
	Password string   `json:"password,omitempty"`
	From     string   `json:"from"`
	To       []string `json:"to"`
}

// secret is one secret field of a channel, named as in its JSON
// ("webhook.headers.Authorization" for a header).
type secret struct {
	field string
	get   func() string
	set   func(string)
}

// secrets lists the channel's secret fields that are set: the webhook
// URL, HMAC secret and header values (Authorization and API keys live
// there), and the SMTP password.
func (c *Channel) secrets() []secret {
	var out []secret
	str := func(field string, v *string) {
		if *v != "" {
			out = append(out, secret{field, func() string { return *v }, func(x string) { *v = x }})
		}
	}
	if w := c.Webhook; w != nil {
		str("webhook.url", &w.URL)
		str("webhook.secret", &w.Secret)
		names := make([]string, 0, len(w.Headers))
		for k := range w.Headers {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			h := w.Headers
			out = append(out, secret{"webhook.headers." + k, func() string { return h[k] }, func(x string) { h[k] = x }})
		}
	}
	if e := c.Email; e != nil {
		str("email.password", &e.Password)
	}
	return out
}

// Validate checks a channel whose secrets are as the user gave them
// (plaintext, env:NAME, or sealed values kept from the stored channel),
// reporting every problem. httpAllow is the SSRF allowlist
// (BATON_HTTP_ALLOW) a literal webhook URL is checked against.
func (c *Channel) Validate(httpAllow []string) dag.Problems {
	var errs dag.Problems
	bad := func(field, format string, args ...any) {
		errs = append(errs, dag.Problem{Path: field, Message: fmt.Sprintf(format, args...)})
	}
	if c.Name == "" || !dag.ValidName(c.Name) {
		bad("name", "%q must be 1 to 64 letters, digits, '-', '_' or '.'", c.Name)
	}
	switch c.Kind {
	case KindWebhook:
		if c.Email != nil {
			bad("email", "is for kind email, not webhook")
		}
		if c.Webhook == nil {
			bad("webhook", "is required for kind webhook")
			break
		}
		errs = append(errs, c.Webhook.validate(httpAllow)...)
	case KindEmail:
		if c.Webhook != nil {
			bad("webhook", "is for kind webhook, not email")
		}
		if c.Email == nil {
			bad("email", "is required for kind email")
			break
		}
		errs = append(errs, c.Email.validate()...)
	default:
		bad("kind", "%q is not webhook or email", c.Kind)
	}
	for _, s := range c.secrets() {
		if name, ok := strings.CutPrefix(s.get(), envPrefix); ok && !config.ValidEnvName(name) {
			bad(s.field, "env:%s does not name an environment variable", name)
		}
	}
	return errs
}

func (w *Webhook) validate(httpAllow []string) dag.Problems {
	var errs dag.Problems
	bad := func(field, format string, args ...any) {
		errs = append(errs, dag.Problem{Path: "webhook." + field, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case w.URL == "":
		bad("url", "is required")
	case strings.HasPrefix(w.URL, envPrefix), strings.HasPrefix(w.URL, sealedPrefix):
		// Read at each delivery and checked then; a sealed URL (kept on
		// an update) was checked when it was saved.
	default:
		if err := checkWebhookURL(w.URL, httpAllow); err != nil {
			bad("url", "%v", err)
		}
	}
	if w.Body == "" && w.Template != "" && !slices.Contains(Templates(), w.Template) {
		bad("template", "%q is not one of %s", w.Template, strings.Join(Templates(), ", "))
	}
	if w.Body != "" && w.Template != "" {
		bad("template", "give a template or a custom body, not both")
	}
	for k, v := range w.Headers {
		if !validHeaderName(k) {
			bad("headers", "%q is not a header name", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			bad("headers", "the value of %q holds a line break", k)
		}
	}
	if w.Body != "" {
		if err := checkBody(w); err != nil {
			bad("body", "%v", err)
		}
	}
	switch w.Sign {
	case "", SignHeader, SignDingTalk, SignFeishu:
	default:
		bad("sign", "%q is not header, dingtalk or feishu", w.Sign)
	}
	if w.Sign != "" && w.Secret == "" {
		bad("secret", "is required to sign (sign %q)", w.Sign)
	}
	if w.SignatureHeader != "" && !validHeaderName(w.SignatureHeader) {
		bad("signature_header", "%q is not a header name", w.SignatureHeader)
	}
	return errs
}

// checkWebhookURL is the SSRF guard of http tasks, plus what a webhook
// needs: an absolute http(s) URL without user info.
func checkWebhookURL(raw string, httpAllow []string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("is not an absolute http or https URL")
	}
	if u.User != nil {
		return errors.New("must not carry user info: put credentials in headers or the secret")
	}
	return executor.CheckURL(httpAllow, raw)
}

func (e *Email) validate() dag.Problems {
	var errs dag.Problems
	bad := func(field, format string, args ...any) {
		errs = append(errs, dag.Problem{Path: "email." + field, Message: fmt.Sprintf(format, args...)})
	}
	if e.Host == "" {
		bad("host", "is required")
	} else if strings.ContainsAny(e.Host, ":/ ") {
		bad("host", "%q must be a host name or address, without port or scheme", e.Host)
	}
	if e.Port < 0 || e.Port > 65535 {
		bad("port", "%d is not a port", e.Port)
	}
	switch e.TLS {
	case "", TLSStartTLS, TLSImplicit:
	case TLSNone:
		if e.Password != "" {
			bad("tls", "none would send the password in clear: use starttls or tls")
		}
	default:
		bad("tls", "%q is not starttls, tls or none", e.TLS)
	}
	if e.Password != "" && e.Username == "" {
		bad("username", "is required with a password")
	}
	if _, err := mail.ParseAddress(e.From); err != nil {
		bad("from", "%q is not a mail address", e.From)
	}
	if len(e.To) == 0 {
		bad("to", "needs at least one address")
	}
	for _, to := range e.To {
		if _, err := mail.ParseAddress(to); err != nil {
			bad("to", "%q is not a mail address", to)
		}
	}
	return errs
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		// RFC 9110 token characters.
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// HostOf is what may be shown of a webhook URL: scheme and host. The
// path and query of a chat hook are its credential.
func HostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

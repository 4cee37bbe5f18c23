package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/baton-sched/baton/internal/executor"
)

// DefaultTimeout bounds one delivery to one channel.
const DefaultTimeout = 15 * time.Second

// maxAnswer is how much of a webhook's answer is read and quoted.
const maxAnswer = 64 << 10

// Sender delivers messages. The zero value works: no allowlist (public
// webhook destinations only), DefaultTimeout, the system's CAs.
type Sender struct {
	// HTTPAllow is the SSRF allowlist webhooks share with http tasks
	// (BATON_HTTP_ALLOW).
	HTTPAllow []string
	Timeout   time.Duration
	// TLS is the base TLS configuration of SMTP connections (tests add
	// their CA); nil uses the system's roots.
	TLS *tls.Config
	// Now stamps signatures; nil is time.Now.
	Now func() time.Time
}

// Send delivers m to c, whose secrets are open (Sealer.Open). The error
// never quotes a webhook URL: its path and query are credentials.
func (s *Sender) Send(ctx context.Context, c *Channel, m Message) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case c.Kind == KindWebhook && c.Webhook != nil:
		return s.webhook(ctx, c.Webhook, m, timeout)
	case c.Kind == KindEmail && c.Email != nil:
		return s.email(ctx, c.Email, m)
	}
	return fmt.Errorf("channel %q: kind %q has no %s settings", c.Name, c.Kind, c.Kind)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) webhook(ctx context.Context, w *Webhook, m Message, timeout time.Duration) error {
	body, err := RenderBody(w, m)
	if err != nil {
		return err
	}
	if err := checkWebhookURL(w.URL, s.HTTPAllow); err != nil {
		return fmt.Errorf("webhook %s: %w", HostOf(w.URL), err)
	}
	target := w.URL
	switch w.Sign {
	case SignDingTalk:
		target = dingTalkSign(target, w.Secret, s.now())
	case SignFeishu:
		if body, err = feishuSign(body, w.Secret, s.now()); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", HostOf(w.URL), redactURLError(err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Baton-Alerts/1")
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	if w.Secret != "" && (w.Sign == "" || w.Sign == SignHeader) {
		name := w.SignatureHeader
		if name == "" {
			name = DefaultSignatureHeader
		}
		req.Header.Set(name, "sha256="+Signature(w.Secret, body))
	}
	client := executor.GuardedClient(s.HTTPAllow, timeout)
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", HostOf(w.URL), redactURLError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s answered %s: %s", HostOf(w.URL), resp.Status, truncateRunes(strings.TrimSpace(string(answer)), 200))
	}
	return chatError(w, answer)
}

// Signature is the hex HMAC-SHA256 of body under secret, as sent in the
// signature header ("sha256=" + Signature).
func Signature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// dingTalkSign adds DingTalk's signature: base64 of HMAC-SHA256 keyed by
// the secret over "<timestamp ms>\n<secret>".
func dingTalkSign(rawURL, secret string, now time.Time) string {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	sign := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL // checked before: cannot happen
	}
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", sign)
	u.RawQuery = q.Encode()
	return u.String()
}

// feishuSign adds Feishu's signature fields to the body: base64 of
// HMAC-SHA256 keyed by "<timestamp s>\n<secret>" over nothing.
func feishuSign(body []byte, secret string, now time.Time) ([]byte, error) {
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(ts+"\n"+secret))
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("feishu signature: the body is not a JSON object: %w", err)
	}
	obj["timestamp"] = ts
	obj["sign"] = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return json.Marshal(obj)
}

// chatError reads the refusals chat platforms answer with HTTP 200:
// DingTalk and WeCom {"errcode":N}, Feishu {"code":N}.
func chatError(w *Webhook, answer []byte) error {
	if w.Body != "" {
		return nil // a custom body talks to something we do not know
	}
	var r struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
		Code    *int   `json:"code"`
		Msg     string `json:"msg"`
	}
	if json.Unmarshal(answer, &r) != nil {
		return nil
	}
	switch w.Template {
	case "dingtalk", "wecom":
		if r.ErrCode != nil && *r.ErrCode != 0 {
			return fmt.Errorf("%s refused the message: errcode %d: %s", w.Template, *r.ErrCode, r.ErrMsg)
		}
	case "feishu":
		if r.Code != nil && *r.Code != 0 {
			return fmt.Errorf("feishu refused the message: code %d: %s", *r.Code, r.Msg)
		}
	}
	return nil
}

// redactURLError drops the URL net/http puts in its errors.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (s *Sender) email(ctx context.Context, e *Email, m Message) error {
	mode := e.TLS
	if mode == "" {
		mode = TLSStartTLS
	}
	port := e.Port
	if port == 0 {
		port = map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25}[mode]
	}
	addr := net.JoinHostPort(e.Host, strconv.Itoa(port))
	fail := func(step string, err error) error { return fmt.Errorf("smtp %s: %s: %w", addr, step, err) }
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail("connect", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	tcfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		tcfg = s.TLS.Clone()
	}
	if tcfg.ServerName == "" {
		tcfg.ServerName = e.Host
	}
	var c *smtp.Client
	switch mode {
	case TLSStartTLS:
		if c, err = smtp.NewClientStartTLS(conn, tcfg); err != nil {
			_ = conn.Close()
			return fail("starttls", err)
		}
	case TLSImplicit:
		c = smtp.NewClient(tls.Client(conn, tcfg))
	default:
		c = smtp.NewClient(conn)
	}
	defer func() { _ = c.Close() }()
	if e.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", e.Username, e.Password)); err != nil {
			return fail("auth", err)
		}
	}
	from, err := mail.ParseAddress(e.From)
	if err != nil {
		return fail("from", err)
	}
	to := make([]string, 0, len(e.To))
	for _, t := range e.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return fail("to", err)
		}
		to = append(to, a.Address)
	}
	msg, err := mailMessage(from, e.To, m, s.now())
	if err != nil {
		return fail("message", err)
	}
	if err := c.SendMail(from.Address, to, bytes.NewReader(msg)); err != nil {
		return fail("send", err)
	}
	if err := c.Quit(); err != nil {
		return fail("quit", err)
	}
	return nil
}

// mailMessage is an RFC 5322 plain-text message, UTF-8 (names and
// messages may be Chinese), quoted-printable.
func mailMessage(from *mail.Address, to []string, m Message, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	host := "baton"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 {
		host = from.Address[i+1:]
	}
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Title))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", fmt.Sprintf("<%s@%s>", hex.EncodeToString(id), host))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	if m.Alert.RunID != "" {
		hdr("X-Baton-Run", m.Alert.RunID)
	}
	hdr("X-Baton-Event", m.Event)
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(m.Text + "\n")); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

package alert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/workflows"
)

var loopback = []string{"127.0.0.0/8", "::1/128"}

func failedEvent() workflows.AlertEvent {
	return workflows.AlertEvent{Event: dag.AlertRunFailed, Key: "1", Channels: []string{"c"}, RunID: "r-1", Kind: "flow",
		DefinitionID: "f1", DefinitionName: "日终结算", Version: 2, Group: "default", Trigger: "cron", Bizdate: "2026-01-31",
		Status: "failed", Failed: []workflows.AlertNode{{Node: "load", Error: "exit status 1\nstack trace line\nmore"}},
		At: time.Date(2026, 2, 1, 2, 0, 0, 0, time.UTC)}
}

func TestRenderCarriesRunNodesFirstErrorLineAndLink(t *testing.T) {
	m := Render(failedEvent(), "https://baton.example/")
	if m.Title != "[Baton] Run failed: 日终结算 (2026-01-31)" {
		t.Errorf("title %q", m.Title)
	}
	if m.Link != "https://baton.example/runs/r-1" {
		t.Errorf("link %q", m.Link)
	}
	for _, want := range []string{"Run: r-1 (flow 日终结算 v2, trigger cron, group default)", "Status: failed",
		"- load: exit status 1", "Open: https://baton.example/runs/r-1"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.Contains(m.Text, "stack trace") {
		t.Errorf("text carries more than the first error line:\n%s", m.Text)
	}
	if !strings.Contains(m.Markdown, "[Open the run in the console](https://baton.example/runs/r-1)") {
		t.Errorf("markdown %s", m.Markdown)
	}
}

// receiver is a real HTTP server recording what it is sent.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	hdrs   []http.Header
	urls   []string
	answer func(w http.ResponseWriter)
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies, r.hdrs, r.urls = append(r.bodies, b), append(r.hdrs, req.Header.Clone()), append(r.urls, req.URL.String())
		answer := r.answer
		r.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		_, _ = io.WriteString(w, `{"errcode":0,"code":0}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) last(t *testing.T) ([]byte, http.Header, string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		t.Fatal("the receiver got nothing")
	}
	n := len(r.bodies) - 1
	return r.bodies[n], r.hdrs[n], r.urls[n]
}

func send(t *testing.T, c *Channel) error {
	t.Helper()
	s := &Sender{HTTPAllow: loopback, Now: func() time.Time { return time.Unix(1767225600, 0) }}
	return s.Send(context.Background(), c, Render(failedEvent(), "http://console"))
}

func TestWebhookHMACHeader(t *testing.T) {
	r := newReceiver(t)
	c := &Channel{Name: "hook", Kind: KindWebhook, Webhook: &Webhook{URL: r.srv.URL + "/hook", Secret: "s3cret"}}
	if err := c.Validate(loopback); len(err) > 0 {
		t.Fatal(err)
	}
	if err := send(t, c); err != nil {
		t.Fatal(err)
	}
	body, hdr, _ := r.last(t)
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(body)
	if got, want := hdr.Get(DefaultSignatureHeader), "sha256="+hexString(mac.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	var generic struct {
		Event, Title, Text, Link string
		Alert                    workflows.AlertEvent
	}
	if err := json.Unmarshal(body, &generic); err != nil {
		t.Fatalf("generic body %s: %v", body, err)
	}
	if generic.Event != "run_failed" || generic.Alert.RunID != "r-1" || generic.Link != "http://console/runs/r-1" {
		t.Errorf("generic body %s", body)
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

func TestDingTalkBodyAndSignature(t *testing.T) {
	r := newReceiver(t)
	c := &Channel{Name: "dt", Kind: KindWebhook, Webhook: &Webhook{URL: r.srv.URL + "/robot/send?access_token=tok",
		Template: "dingtalk", Secret: "SECxyz", Sign: SignDingTalk}}
	if err := c.Validate(loopback); len(err) > 0 {
		t.Fatal(err)
	}
	if err := send(t, c); err != nil {
		t.Fatal(err)
	}
	body, _, u := r.last(t)
	var dt struct {
		MsgType  string `json:"msgtype"`
		Markdown struct{ Title, Text string }
	}
	if err := json.Unmarshal(body, &dt); err != nil || dt.MsgType != "markdown" || !strings.Contains(dt.Markdown.Title, "Run failed") ||
		!strings.Contains(dt.Markdown.Text, "- load: exit status 1") {
		t.Fatalf("dingtalk body %s (%v)", body, err)
	}
	// DingTalk: sign = base64(HMAC-SHA256(secret, timestamp+"\n"+secret)).
	ts := "1767225600000"
	mac := hmac.New(sha256.New, []byte("SECxyz"))
	mac.Write([]byte(ts + "\n" + "SECxyz"))
	q := mustQuery(t, u)
	if q.Get("access_token") != "tok" || q.Get("timestamp") != ts || q.Get("sign") != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		t.Errorf("dingtalk query %s", u)
	}
}

func mustQuery(t *testing.T, u string) interface{ Get(string) string } {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://x"+u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req.URL.Query()
}

func TestFeishuBodyAndSignature(t *testing.T) {
	r := newReceiver(t)
	c := &Channel{Name: "fs", Kind: KindWebhook, Webhook: &Webhook{URL: r.srv.URL + "/open-apis/bot/v2/hook/abc",
		Template: "feishu", Secret: "fsecret", Sign: SignFeishu}}
	if err := send(t, c); err != nil {
		t.Fatal(err)
	}
	body, _, _ := r.last(t)
	var fs struct {
		MsgType   string `json:"msg_type"`
		Content   struct{ Text string }
		Timestamp string
		Sign      string
	}
	if err := json.Unmarshal(body, &fs); err != nil || fs.MsgType != "text" || !strings.Contains(fs.Content.Text, "Open: http://console/runs/r-1") {
		t.Fatalf("feishu body %s (%v)", body, err)
	}
	mac := hmac.New(sha256.New, []byte("1767225600\nfsecret"))
	if fs.Timestamp != "1767225600" || fs.Sign != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		t.Errorf("feishu signature %s", body)
	}
}

func TestChatRefusalWithStatus200IsAnError(t *testing.T) {
	r := newReceiver(t)
	r.answer = func(w http.ResponseWriter) {
		_, _ = io.WriteString(w, `{"errcode":310000,"errmsg":"keywords not in content"}`)
	}
	c := &Channel{Name: "dt", Kind: KindWebhook, Webhook: &Webhook{URL: r.srv.URL + "/robot/send?access_token=tok", Template: "dingtalk"}}
	err := send(t, c)
	if err == nil || !strings.Contains(err.Error(), "310000") {
		t.Fatalf("err %v", err)
	}
}

func TestWebhookErrorsNeverQuoteTheURL(t *testing.T) {
	r := newReceiver(t)
	r.answer = func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/hook/TOPSECRET"
	_ = ln.Close()
	for _, u := range []string{r.srv.URL + "/hook/TOPSECRET", closed} {
		err := send(t, &Channel{Name: "h", Kind: KindWebhook, Webhook: &Webhook{URL: u}})
		if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
			t.Errorf("%s: err %v", u, err)
		}
	}
}

func TestWebhookSSRFGuard(t *testing.T) {
	r := newReceiver(t)
	c := &Channel{Name: "h", Kind: KindWebhook, Webhook: &Webhook{URL: r.srv.URL}}
	if err := c.Validate(nil); len(err) == 0 || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("validate without allowlist: %v", err)
	}
	if err := c.Validate(loopback); len(err) > 0 {
		t.Errorf("validate with allowlist: %v", err)
	}
	err := (&Sender{}).Send(context.Background(), c, Render(failedEvent(), ""))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("send without allowlist: %v", err)
	}
	for _, u := range []string{"http://169.254.169.254/latest", "ftp://example.com/x", "http://2130706433/"} {
		c.Webhook.URL = u
		if err := c.Validate(nil); len(err) == 0 {
			t.Errorf("%s accepted", u)
		}
	}
}

func TestCustomBodyValidatedAtSave(t *testing.T) {
	base := func(body string, hdr map[string]string) *Channel {
		return &Channel{Name: "c", Kind: KindWebhook, Webhook: &Webhook{URL: "https://hooks.example/x", Body: body, Headers: hdr}}
	}
	for body, want := range map[string]string{
		`{"t": {{json .Title}`:    "template",
		`{"t": {{json .Nope}}}`:   "Nope",
		`title is {{.Title}}`:     "not JSON",
		`{"t": {{.Title | oops}}`: "oops",
	} {
		if err := base(body, nil).Validate(nil); len(err) == 0 || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want it to name %q", body, err, want)
		}
	}
	if err := base(`title is {{.Title}}`, map[string]string{"Content-Type": "text/plain"}).Validate(nil); len(err) > 0 {
		t.Errorf("plain text with its content type: %v", err)
	}
	good := base(`{"run": {{json .Alert.RunID}}, "msg": {{json .Text}}}`, nil)
	if err := good.Validate(nil); len(err) > 0 {
		t.Fatal(err)
	}
	body, err := RenderBody(good.Webhook, Render(failedEvent(), ""))
	if err != nil || !strings.HasPrefix(string(body), `{"run": "r-1"`) {
		t.Errorf("custom body %s (%v)", body, err)
	}
	bad := &Channel{Name: "c", Kind: KindWebhook, Webhook: &Webhook{URL: "https://hooks.example/x", Template: "teams"}}
	if err := bad.Validate(nil); len(err) == 0 || !strings.Contains(err.Error(), "teams") {
		t.Errorf("unknown template: %v", err)
	}
}

func TestSealer(t *testing.T) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &Channel{Name: "c", Kind: KindWebhook, Webhook: &Webhook{URL: "https://hooks.example/TOKEN1", Secret: "env:HOOK_SECRET"}}
	if err := s.Seal(c); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.Webhook.URL, "TOKEN1") || !strings.HasPrefix(c.Webhook.URL, sealedPrefix) || c.Webhook.Secret != "env:HOOK_SECRET" {
		t.Fatalf("sealed %+v", c.Webhook)
	}
	stored := *c.Webhook
	lookup := func(n string) (string, bool) {
		return map[string]string{"HOOK_SECRET": "from-env"}[n], n == "HOOK_SECRET"
	}
	if err := s.Open(c, lookup); err != nil || c.Webhook.URL != "https://hooks.example/TOKEN1" || c.Webhook.Secret != "from-env" {
		t.Fatalf("opened %+v: %v", c.Webhook, err)
	}
	// A sealed value moved into another field does not open.
	swapped := &Channel{Name: "c", Kind: KindWebhook, Webhook: &Webhook{URL: "https://x", Secret: stored.URL}}
	swapped.Webhook.URL = stored.URL
	swapped.Webhook.Secret = stored.URL
	if err := s.Open(swapped, lookup); err == nil {
		t.Error("a sealed URL opened as the secret")
	}
	other, _ := NewSealer(make([]byte, 32))
	again := &Channel{Name: "c", Kind: KindWebhook, Webhook: &Webhook{URL: stored.URL}}
	if err := other.Open(again, lookup); err == nil || !strings.Contains(err.Error(), "BATON_SECRET_KEY") {
		t.Errorf("wrong key: %v", err)
	}
	var none *Sealer
	if err := none.Seal(&Channel{Name: "c", Kind: KindWebhook, Webhook: &Webhook{URL: "https://x"}}); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	if err := none.Seal(&Channel{Name: "c", Kind: KindWebhook, Webhook: &Webhook{URL: "env:HOOK_URL"}}); err != nil {
		t.Errorf("no key, env reference: %v", err)
	}
}

// smtpServer is a real SMTP server (go-smtp) with STARTTLS and AUTH PLAIN.
type smtpServer struct {
	addr     string
	mu       sync.Mutex
	mails    []smtpMail
	authUser string
	tlsUsed  bool
	roots    *x509.CertPool
}

type smtpMail struct {
	from string
	to   []string
	data []byte
}

type smtpSession struct {
	srv   *smtpServer
	conn  *smtp.Conn
	authd bool
	m     smtpMail
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "alerts" || pass != "pw" {
			return errors.New("bad credentials")
		}
		s.authd = true
		s.srv.mu.Lock()
		s.srv.authUser = user
		s.srv.mu.Unlock()
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authd {
		return errors.New("auth required")
	}
	s.m.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.to = append(s.m.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.data = b
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.m)
	s.srv.tlsUsed = s.srv.tlsUsed || isTLS
	s.srv.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        { s.m = smtpMail{} }
func (s *smtpSession) Logout() error { return nil }

func startSMTP(t *testing.T, withTLS bool) *smtpServer {
	t.Helper()
	srv := &smtpServer{}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: srv, conn: c}, nil })
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	if withTLS {
		cert, roots := selfSigned(t)
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		srv.roots = roots
	} else {
		s.AllowInsecureAuth = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.addr = ln.Addr().String()
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return srv
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func emailChannel(addr string) *Channel {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return &Channel{Name: "mail", Kind: KindEmail, Email: &Email{Host: host, Port: p, Username: "alerts", Password: "pw",
		From: "Baton <baton@example.com>", To: []string{"oncall@example.com", "Lead <lead@example.com>"}}}
}

func TestEmailThroughSMTPWithSTARTTLSAndAuth(t *testing.T) {
	srv := startSMTP(t, true)
	c := emailChannel(srv.addr)
	if err := c.Validate(nil); len(err) > 0 {
		t.Fatal(err)
	}
	s := &Sender{TLS: &tls.Config{RootCAs: srv.roots, MinVersion: tls.VersionTLS12}}
	if err := s.Send(context.Background(), c, Render(failedEvent(), "http://console")); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.mails) != 1 || !srv.tlsUsed || srv.authUser != "alerts" {
		t.Fatalf("mails %d, tls %v, auth %q", len(srv.mails), srv.tlsUsed, srv.authUser)
	}
	got := srv.mails[0]
	if got.from != "baton@example.com" || strings.Join(got.to, ",") != "oncall@example.com,lead@example.com" {
		t.Errorf("envelope %q -> %q", got.from, got.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(got.data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "[Baton] Run failed: 日终结算 (2026-01-31)" {
		t.Errorf("subject %q (%v)", subject, err)
	}
	body, _ := io.ReadAll(msg.Body)
	if !strings.Contains(string(body), "Open: http://console/runs/r-1") {
		t.Errorf("body %s", body)
	}
}

func TestEmailRequiresSTARTTLSByDefault(t *testing.T) {
	srv := startSMTP(t, false) // offers no STARTTLS
	err := (&Sender{}).Send(context.Background(), emailChannel(srv.addr), Render(failedEvent(), ""))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err %v", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.mails) != 0 {
		t.Error("a mail went out without TLS")
	}
	bad := emailChannel(srv.addr)
	bad.Email.TLS = TLSNone
	if err := bad.Validate(nil); len(err) == 0 || !strings.Contains(err.Error(), "in clear") {
		t.Errorf("password over plain SMTP accepted: %v", err)
	}
}

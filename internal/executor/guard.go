package executor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
	broadcast   = netip.MustParseAddr("255.255.255.255")
)

// httpGuard decides which destinations an http task may reach. Everything
// that is not internal is allowed; internal ranges only when allowlisted.
type httpGuard struct {
	prefixes  []netip.Prefix          // CIDRs and exact IPs, any port
	addrPorts map[netip.AddrPort]bool // "ip:port" entries
	names     map[string]bool         // "host" or "host:port", lower-case
}

// newHTTPGuard parses allow entries: CIDRs ("127.0.0.0/8"), IPs, "ip:port",
// host names and "host:port". Entries that look like addresses but do not
// parse are returned so they can be reported rather than silently ignored.
func newHTTPGuard(allow []string) (*httpGuard, []string) {
	g := &httpGuard{addrPorts: map[netip.AddrPort]bool{}, names: map[string]bool{}}
	var bad []string
	for _, raw := range allow {
		e := strings.TrimSpace(raw)
		if e == "" {
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			g.prefixes = append(g.prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			a = a.WithZone("").Unmap()
			g.prefixes = append(g.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if ap, err := netip.ParseAddrPort(e); err == nil {
			g.addrPorts[netip.AddrPortFrom(ap.Addr().WithZone("").Unmap(), ap.Port())] = true
			continue
		}
		if strings.ContainsAny(e, "/[]") {
			bad = append(bad, raw)
			continue
		}
		g.names[normalizeHost(e)] = true
	}
	return g, bad
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func (g *httpGuard) nameAllowed(host, port string) bool {
	h := normalizeHost(host)
	return g.names[h] || g.names[net.JoinHostPort(h, port)]
}

func (g *httpGuard) ipAllowed(ip netip.Addr, port uint16) bool {
	ip = ip.WithZone("").Unmap()
	if g.addrPorts[netip.AddrPortFrom(ip, port)] {
		return true
	}
	for _, p := range g.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// checkURL refuses what can be refused before any connection: unsupported
// schemes and hosts that are internal IPs, in any numeric spelling. Names
// are left to the dial-time check, which sees what they resolve to.
func (g *httpGuard) checkURL(u *url.URL) error {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return fmt.Errorf("unsupported URL scheme %q (want http or https)", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("URL %s has no host", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	if g.nameAllowed(host, port) {
		return nil
	}
	portNum, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("invalid port %q", port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return g.checkIP(ip, uint16(portNum))
	}
	if ip, ok := parseInetAton(host); ok {
		if err := g.checkIP(ip, uint16(portNum)); err != nil {
			var refused *RefusedError
			if errors.As(err, &refused) {
				refused.Addr = fmt.Sprintf("%s (%s)", host, ip)
			}
			return err
		}
		// Go's resolver would look this up as a DNS name while curl and
		// browsers read it as an address; refuse the ambiguity.
		return fmt.Errorf("host %s is a numeric form of %s: write the address as %s", host, ip, ip)
	}
	return nil
}

// checkAddress checks a resolved "ip:port" about to be connected to. It
// fails closed: an address it cannot read is refused.
func (g *httpGuard) checkAddress(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Addr: address, Reason: "not a checkable IP address"}
	}
	if err := g.checkIP(ap.Addr(), ap.Port()); err != nil {
		return err
	}
	return nil
}

// checkIP returns a *RefusedError or nil.
func (g *httpGuard) checkIP(ip netip.Addr, port uint16) error {
	ip = ip.WithZone("")
	if g.ipAllowed(ip, port) {
		return nil
	}
	if reason, blocked := blockedReason(ip); blocked {
		return &RefusedError{Addr: ip.String(), Reason: reason}
	}
	return nil
}

// blockedReason says why ip is internal, looking through the IPv6 forms
// that embed an IPv4 address (mapped, compatible, NAT64, 6to4).
func blockedReason(ip netip.Addr) (string, bool) {
	if ip.Is4In6() {
		if r, ok := blockedReason(ip.Unmap()); ok {
			return "an IPv4-mapped form of " + r, true
		}
		return "", false
	}
	switch {
	case ip.IsUnspecified():
		return "an unspecified address", true
	case ip.IsLoopback():
		return "a loopback address", true
	case ip.IsPrivate():
		return "a private address", true
	case ip.IsLinkLocalUnicast():
		return "a link-local address", true
	case ip.IsMulticast():
		return "a multicast address", true
	case ip.Is4() && cgnat.Contains(ip):
		return "a carrier-grade NAT address (100.64.0.0/10)", true
	case ip.Is4() && thisNetwork.Contains(ip):
		return "a this-network address (0.0.0.0/8)", true
	case ip == broadcast:
		return "a broadcast address", true
	}
	if !ip.Is6() {
		return "", false
	}
	b := ip.As16()
	var embedded netip.Addr
	var form string
	switch {
	case isZero(b[:12]):
		embedded, form = netip.AddrFrom4([4]byte(b[12:16])), "an IPv4-compatible form of "
	case nat64.Contains(ip):
		embedded, form = netip.AddrFrom4([4]byte(b[12:16])), "a NAT64 form of "
	case sixToFour.Contains(ip):
		embedded, form = netip.AddrFrom4([4]byte(b[2:6])), "a 6to4 form of "
	default:
		return "", false
	}
	if r, ok := blockedReason(embedded); ok {
		return form + r, true
	}
	return "", false
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// parseInetAton reads the numeric IPv4 spellings inet_aton accepts and
// netip does not: "2130706433", "0x7f000001", "0177.0.0.1", "127.1".
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil || digits == "" || digits[0] == '+' || digits[0] == '-' {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	last := len(vals) - 1
	var n uint64
	for i := 0; i < last; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		n |= vals[i] << (24 - 8*i)
	}
	if vals[last] >= 1<<(32-8*last) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

#!/usr/bin/env bash
# capture.sh: regenerate the golden packet fixtures in this directory from the
# real Linux kernel.
#
# Run by hand, as root, on a Linux host (not in CI):
#
#   sudo bash header/testdata/golden/capture.sh            # every fixture
#   sudo bash header/testdata/golden/capture.sh pair lan   # only some groups
#   OUT=/tmp/x sudo -E bash capture.sh                     # write elsewhere
#   FIXTURES="ipv6_ra ipv6_rs" sudo -E bash capture.sh ra  # rewrite only these
#
# Groups: pair routed lan mcast ra dad igmp2q igmp3q mld1q mld2q.
#
# The script builds its own network namespaces (all named ustkcap-*), veth
# pairs, a bridge and a router namespace, makes the kernel send each packet,
# captures it with tcpdump on a veth and writes NAME.hex: '#' comment lines
# (how the packet was made, date, kernel, tshark's one-line summary), then the
# whole Ethernet II frame, 16 bytes (32 hex digits) per line. Every fixture is
# read back through text2pcap and decoded by tshark with checksum validation
# on; a malformed packet or a bad checksum fails the fixture. It deletes every
# namespace, process and temporary file it made when it exits, and can be run
# again at any time (stale ustkcap-* namespaces from an interrupted run are
# removed first).
#
# Needs: iproute2, tcpdump, tshark and text2pcap, iputils ping, radvd, and
# /usr/bin/python3 with scapy (scapy only provokes the kernel: the SACK and
# parameter problem fixtures are the kernel's replies to scapy's packets). Only
# addresses inside the namespaces are used: 10.99.0.0/16, fd00:99::/32
# (ULA) and link-local.
set -uo pipefail

if [[ $EUID -ne 0 ]]; then
	echo "capture.sh: must run as root (network namespaces, tcpdump)" >&2
	exit 1
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-$HERE}
PY=/usr/bin/python3 # the interpreter that has scapy
P=ustkcap-          # prefix of every namespace we create
WORK=$(mktemp -d /tmp/ustkcap.XXXXXX)
PIDS=()     # background processes we started (killed by pid on exit)
FAILED=()   # fixtures that could not be produced
MADE=()     # fixtures written
NCAP=0

# Fixed link-layer addresses, so that fixtures are comparable across runs.
MAC_A=02:99:00:00:00:01 # host A (10.99.1.1, fd00:99::1)
MAC_B=02:99:00:00:00:02 # host B (10.99.1.2, fd00:99::2)
MAC_R1=02:99:00:00:00:fe # router R, A side (10.99.1.254, fd00:99::fe)
MAC_R2=02:99:00:00:02:fe # router R, C side (10.99.2.254, fd00:99:2::fe)
MAC_C=02:99:00:00:02:03  # host C behind R (10.99.2.3, fd00:99:2::3)
MAC_BR=02:99:00:00:00:fa # bridge br0 (10.99.1.250)

log() { printf '%s\n' "capture.sh: $*" >&2; }

# ---------------------------------------------------------------- cleanup --

stop_bg() {
	local pid
	for pid in "${PIDS[@]}"; do
		# Only a process that is still our own child (its pid not reused).
		if [[ $(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ') == "$$" ]]; then
			kill "$pid" 2>/dev/null
		fi
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	PIDS=()
}

del_all_ns() {
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^${P}"); do
		ip netns del "$ns" 2>/dev/null
	done
}

cleanup() {
	stop_bg
	del_all_ns
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----------------------------------------------------------- python tools --

cat >"$WORK/tools.py" <<'PYEOF'
"""Helpers for capture.sh (run with /usr/bin/python3)."""
import ctypes, datetime, fcntl, os, re, socket, struct, subprocess, sys, time

def nooffload(ifnames):
    # Turn off TX checksum offload, TSO and GSO with the SIOCETHTOOL ioctl
    # (like `ethtool -K IF tx off tso off gso off`), so that locally sent
    # TCP/UDP packets carry their final checksum when captured on a veth.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for name in ifnames:
        for cmd in (0x17, 0x1f, 0x24):  # ETHTOOL_STXCSUM, _STSO, _SGSO
            val = ctypes.create_string_buffer(struct.pack('II', cmd, 0))
            ifr = struct.pack('16sP16x', name.encode(), ctypes.addressof(val))
            try:
                fcntl.ioctl(s.fileno(), 0x8946, ifr)  # SIOCETHTOOL
            except OSError as e:
                print(f'nooffload {name} cmd {cmd:#x}: {e}', file=sys.stderr)

def read_pcap(path):
    data = open(path, 'rb').read()
    if len(data) < 24:
        return 1, []
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        e = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        e = '>'
    else:
        raise SystemExit(f'{path}: not a pcap file')
    linktype = struct.unpack(e + 'I', data[20:24])[0]
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack(e + 'IIII', data[off:off + 16])
        off += 16
        frames.append((data[off:off + incl], orig))
        off += incl
    return linktype, frames

TSHARK_OPTS = ['-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
               '-o', 'udp.check_checksum:TRUE']

def emit(outdir, name, pcap, dfilter, nth, desc, how):
    # Pick the nth frame of pcap that matches the tshark display filter,
    # write NAME.hex, read it back, and check it with tshark.
    linktype, frames = read_pcap(pcap)
    if linktype != 1:
        raise SystemExit(f'{name}: capture link type {linktype}, want Ethernet (1)')
    r = subprocess.run(['tshark', '-r', pcap, '-Y', dfilter, '-T', 'fields',
                        '-e', 'frame.number'] + TSHARK_OPTS,
                       capture_output=True, text=True)
    nums = [int(x) for x in r.stdout.split()]
    if r.returncode != 0 or len(nums) < nth:
        raise SystemExit(f'{name}: {len(nums)} frame(s) of {len(frames)} match '
                         f'{dfilter!r}, want #{nth}; {r.stderr.strip()}')
    frame, orig = frames[nums[nth - 1] - 1]
    if len(frame) != orig:
        raise SystemExit(f'{name}: frame truncated by the capture')
    hexd = frame.hex()
    body = ''.join(hexd[i:i + 32] + '\n' for i in range(0, len(hexd), 32))
    # Read back exactly as header/golden_test.go does: skip '#' lines.
    back = bytes.fromhex(''.join(''.join(l.split()) for l in body.splitlines()
                                 if not l.strip().startswith('#')))
    assert back == frame
    txt = os.path.join(os.path.dirname(pcap), name + '.txt')
    one = os.path.join(os.path.dirname(pcap), name + '.pcap')
    with open(txt, 'w') as f:
        for i in range(0, len(back), 16):
            f.write('%06x %s\n' % (i, ' '.join('%02x' % b for b in back[i:i + 16])))
    subprocess.run(['text2pcap', '-q', txt, one], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summ = subprocess.run(['tshark', '-r', one] + TSHARK_OPTS,
                          capture_output=True, text=True, check=True).stdout
    summ = re.sub(r'^\s*1\s+\S+\s+', '', summ.strip().splitlines()[0])
    verbose = subprocess.run(['tshark', '-r', one, '-V'] + TSHARK_OPTS,
                             capture_output=True, text=True, check=True).stdout
    problems, notes = [], []
    if 'Malformed' in verbose:
        problems.append('tshark: Malformed')
    for m in re.finditer(r'\[Expert Info \((\w+)/(\w+)\): ([^\]]*)\]', verbose):
        sev, group, msg = m.groups()
        if sev == 'Error' or group in ('Checksum', 'Malformed') or 'checksum' in msg.lower():
            problems.append(f'tshark expert {sev}/{group}: {msg}')
        elif sev == 'Warning':
            notes.append(f'{sev}/{group}: {msg}')
    for m in re.finditer(r'\[?([\w ]*Checksum Status)\]?: (Bad)', verbose):
        problems.append(f'tshark: {m.group(1)}: {m.group(2)}')
    if problems:
        raise SystemExit(f'{name}: ' + '; '.join(problems))
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    lines = [f'{name}: {desc}']
    lines += how
    lines.append(f'captured: frame #{nth} matching tshark filter {dfilter!r} '
                 f'in the tcpdump capture described above')
    lines.append(f'date: {now}')
    lines.append(f'kernel: Linux {os.uname().release} (uname -r)')
    lines.append('generator: header/testdata/golden/capture.sh')
    lines.append(f'length: {len(frame)} bytes, Ethernet II frame without FCS')
    lines.append(f'tshark: {summ}')
    for n in notes:
        lines.append(f'tshark expert (not an error): {n}')
    with open(os.path.join(outdir, name + '.hex'), 'w') as f:
        for l in lines:
            f.write('# ' + l + '\n')
        f.write(body)
    print(f'{name}: {summ}')

def udpsend(args):
    # udpsend FAMILY SRC SPORT DST DPORT PAYLOAD [nocsum] [dstopts=HEX]
    fam = socket.AF_INET6 if args[0] == '6' else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    for a in args[6:]:
        if a == 'nocsum':
            s.setsockopt(socket.SOL_SOCKET, 11, 1)  # SO_NO_CHECK
        elif a.startswith('dstopts='):
            s.setsockopt(socket.IPPROTO_IPV6, 59, bytes.fromhex(a[8:]))  # IPV6_DSTOPTS
    s.bind((args[1], int(args[2])))
    s.sendto(args[5].encode(), (args[3], int(args[4])))
    time.sleep(0.2)

def udpserve(args):
    # udpserve FAMILY ADDR PORT SECONDS: bind, so the port is open
    fam = socket.AF_INET6 if args[0] == '6' else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((args[1], int(args[2])))
    s.settimeout(float(args[3]))
    try:
        while True:
            s.recvfrom(65535)
    except (socket.timeout, OSError):
        pass

def tcpserve(args):
    # tcpserve FAMILY ADDR PORT SECONDS: accept connections, read, never send
    fam = socket.AF_INET6 if args[0] == '6' else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args[1], int(args[2])))
    s.listen(8)
    end = time.time() + float(args[3])
    conns = []
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            c, _ = s.accept()
            conns.append(c)
        except (socket.timeout, OSError):
            break

def tcpclient(args):
    # tcpclient FAMILY SRC SPORT DST DPORT DATA: connect, send DATA, wait
    fam = socket.AF_INET6 if args[0] == '6' else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((args[1], int(args[2])))
    s.connect((args[3], int(args[4])))
    if len(args) > 5:
        time.sleep(0.1)
        s.send(args[5].encode())
    time.sleep(0.5)

def join(args):
    # join FAMILY IFNAME GROUP SECONDS: join GROUP on IFNAME, hold, leave
    ifindex = socket.if_nametoindex(args[1])
    if args[0] == '6':
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        mreq = socket.inet_pton(socket.AF_INET6, args[2]) + struct.pack('@I', ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        time.sleep(float(args[3]))
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, mreq)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # struct ip_mreqn { imr_multiaddr, imr_address, imr_ifindex }
        mreq = socket.inet_aton(args[2]) + socket.inet_aton('0.0.0.0') + struct.pack('@i', ifindex)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        time.sleep(float(args[3]))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreq)
    time.sleep(0.5)
    s.close()

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'nooffload':
        nooffload(args)
    elif cmd == 'emit':
        # emit OUTDIR NAME PCAP FILTER NTH DESC HOW...
        emit(args[0], args[1], args[2], args[3], int(args[4]), args[5], args[6:])
    elif cmd in ('udpsend', 'udpserve', 'tcpserve', 'tcpclient', 'join'):
        globals()[cmd](args)
    else:
        raise SystemExit(f'unknown command {cmd}')

main()
PYEOF

cat >"$WORK/provoke.py" <<'PYEOF'
"""Scapy senders that make the kernel react (run with /usr/bin/python3)."""
import sys, time
from scapy.all import (Ether, IP, IPv6, TCP, ICMP, ICMPv6EchoRequest, UDP,
                       IPv6ExtHdrDestOpt, HBHOptUnknown, IPOption, Raw,
                       conf, sendp, srp1)
conf.verb = 0
MAC_A, MAC_B = sys.argv[2], sys.argv[3]
IFACE = sys.argv[4]
cmd = sys.argv[1]

if cmd == 'sack':
    # A TCP handshake with B from an address that the kernel of the sending
    # namespace does not own (10.99.1.66; B has a static neighbour entry for
    # it), so that no kernel answers for the scapy side. Then one segment
    # that leaves a 100-byte hole: B's kernel answers with a duplicate ACK
    # carrying a SACK block (RFC 2018).
    e = Ether(src=MAC_A, dst=MAC_B)
    ip = IP(src='10.99.1.66', dst='10.99.1.2')
    sport, dport, isn = 40066, 8081, 1000
    syn = e / ip / TCP(sport=sport, dport=dport, flags='S', seq=isn, window=64240,
                       options=[('MSS', 1460), ('SAckOK', b''), ('Timestamp', (1000, 0)),
                                ('NOP', None), ('WScale', 7)])
    sa = srp1(syn, iface=IFACE, timeout=3)
    if sa is None or TCP not in sa:
        raise SystemExit('sack: no SYN-ACK')
    peer_ts = dict(sa[TCP].options)['Timestamp'][0]
    rcv = sa[TCP].seq + 1
    ack = e / ip / TCP(sport=sport, dport=dport, flags='A', seq=isn + 1, ack=rcv, window=502,
                       options=[('NOP', None), ('NOP', None), ('Timestamp', (1010, peer_ts))])
    sendp(ack, iface=IFACE)
    time.sleep(0.2)
    ooo = e / ip / TCP(sport=sport, dport=dport, flags='PA', seq=isn + 1 + 100, ack=rcv,
                       window=502,
                       options=[('NOP', None), ('NOP', None), ('Timestamp', (1020, peer_ts))]) \
        / Raw(b'B' * 100)
    sendp(ooo, iface=IFACE)
    time.sleep(0.5)
elif cmd == 'param4':
    # ICMP echo request whose IPv4 header carries a record-route option with
    # length 2 (RFC 791 requires at least 3): malformed, so the receiving
    # kernel answers with ICMP parameter problem pointing at the length byte.
    p = Ether(src=MAC_A, dst=MAC_B) / IP(src='10.99.1.1', dst='10.99.1.2',
            options=[IPOption(b'\x07\x02\x00\x00')]) / ICMP(id=0x99, seq=1) / Raw(b'ustack')
    sendp(p, iface=IFACE)
    time.sleep(0.3)
elif cmd == 'param6':
    # ICMPv6 echo request with a destination options header holding an
    # unknown option of type 0x9e (high bits 10: discard and send ICMPv6
    # parameter problem code 2, RFC 8200 section 4.2).
    p = Ether(src=MAC_A, dst=MAC_B) / IPv6(src='fd00:99::1', dst='fd00:99::2') \
        / IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x9e, optdata=b'\x00' * 4)]) \
        / ICMPv6EchoRequest(id=0x99, seq=1, data=b'ustack')
    sendp(p, iface=IFACE)
    time.sleep(0.3)
else:
    raise SystemExit(f'unknown command {cmd}')
PYEOF

pyt() { "$PY" "$WORK/tools.py" "$@"; }

# --------------------------------------------------------------- topology --

nsx() { local ns=$1; shift; ip netns exec "$P$ns" "$@"; }
# bg_ns NS CMD...: start CMD in namespace NS in the background and remember
# its pid. 'ip netns exec' execs CMD, so the pid is CMD's own (a shell
# function run with & would leave CMD as a grandchild that kill misses).
bg_ns() {
	local ns=$1
	shift
	ip netns exec "$P$ns" "$@" &
	PIDS+=($!)
}
sysctl_ns() { nsx "$1" sysctl -qw "$2" >/dev/null; }

TOPO=() # comment lines describing the current topology

newns() { # newns NAME: a namespace with lo up and quiet IPv6 defaults
	ip netns add "$P$1"
	nsx "$1" ip link set lo up
	# DAD is off unless a group needs it: addresses are usable at once.
	sysctl_ns "$1" net.ipv6.conf.all.accept_dad=0
	sysctl_ns "$1" net.ipv6.conf.default.accept_dad=0
}

veth() { # veth NS1 IF1 MAC1 NS2 IF2 MAC2
	ip -n "$P$1" link add "$2" address "$3" type veth \
		peer name "$5" address "$6" netns "$P$4"
	nsx "$1" "$PY" "$WORK/tools.py" nooffload "$2"
	nsx "$4" "$PY" "$WORK/tools.py" nooffload "$5"
}

reset_topo() {
	stop_bg
	del_all_ns
	TOPO=()
}

# A <-> B on one veth pair.
topo_pair() {
	reset_topo
	newns a
	newns b
	veth a a0 "$MAC_A" b b0 "$MAC_B"
	nsx a ip addr add 10.99.1.1/24 dev a0
	nsx a ip addr add fd00:99::1/64 dev a0
	nsx b ip addr add 10.99.1.2/24 dev b0
	nsx b ip addr add fd00:99::2/64 dev b0
	nsx a ip link set a0 up
	nsx b ip link set b0 up
	TOPO=("topology: ns ${P}a dev a0 $MAC_A 10.99.1.1/24 fd00:99::1/64 <-veth-> ns ${P}b dev b0 $MAC_B 10.99.1.2/24 fd00:99::2/64"
		"settings: TX checksum/TSO/GSO offload off on both veth ends (ioctl ETHTOOL_STXCSUM/STSO/SGSO), IPv6 accept_dad=0")
	sleep 0.5
}

# A <-> R <-> C: R forwards; its C-side link has MTU 1280.
topo_routed() {
	reset_topo
	newns a
	newns r
	newns c
	veth a a0 "$MAC_A" r r1 "$MAC_R1"
	veth r r2 "$MAC_R2" c c0 "$MAC_C"
	nsx r ip link set r2 mtu 1280
	nsx c ip link set c0 mtu 1280
	nsx a ip addr add 10.99.1.1/24 dev a0
	nsx a ip addr add fd00:99::1/64 dev a0
	nsx r ip addr add 10.99.1.254/24 dev r1
	nsx r ip addr add fd00:99::fe/64 dev r1
	nsx r ip addr add 10.99.2.254/24 dev r2
	nsx r ip addr add fd00:99:2::fe/64 dev r2
	nsx c ip addr add 10.99.2.3/24 dev c0
	nsx c ip addr add fd00:99:2::3/64 dev c0
	sysctl_ns r net.ipv4.ip_forward=1
	sysctl_ns r net.ipv6.conf.all.forwarding=1
	nsx a ip link set a0 up
	nsx r ip link set r1 up
	nsx r ip link set r2 up
	nsx c ip link set c0 up
	nsx a ip route add default via 10.99.1.254
	nsx a ip -6 route add default via fd00:99::fe
	nsx c ip route add default via 10.99.2.254
	nsx c ip -6 route add default via fd00:99:2::fe
	TOPO=("topology: ns ${P}a a0 $MAC_A 10.99.1.1/24 fd00:99::1/64 <-veth-> ns ${P}r r1 $MAC_R1 10.99.1.254/24 fd00:99::fe/64 (router: ip_forward=1, ipv6 forwarding=1); ns ${P}r r2 $MAC_R2 10.99.2.254/24 fd00:99:2::fe/64 mtu 1280 <-veth-> ns ${P}c c0 $MAC_C 10.99.2.3/24 fd00:99:2::3/64 mtu 1280; A and C route default via R"
		"settings: TX checksum/TSO/GSO offload off on every veth, IPv6 accept_dad=0")
	sleep 0.5
}

# Host A, router R and host B on one bridged segment (bridge br0 in its own
# namespace). Used for redirects.
topo_lan() {
	reset_topo
	newns br
	sysctl_ns br net.ipv6.conf.all.disable_ipv6=1
	sysctl_ns br net.ipv6.conf.default.disable_ipv6=1
	nsx br ip link add br0 type bridge
	newns a
	newns r
	newns b
	veth a a0 "$MAC_A" br pa 02:99:00:00:01:01
	veth r r1 "$MAC_R1" br pr 02:99:00:00:01:02
	veth b b0 "$MAC_B" br pb 02:99:00:00:01:03
	local p
	for p in pa pr pb; do
		nsx br ip link set "$p" master br0 up
	done
	nsx br ip link set br0 up
	nsx a ip addr add 10.99.1.1/24 dev a0
	nsx a ip addr add fd00:99::1/64 dev a0
	nsx r ip addr add 10.99.1.254/24 dev r1
	nsx r ip addr add fd00:99::fe/64 dev r1
	nsx b ip addr add 10.99.1.2/24 dev b0
	nsx b ip addr add fd00:99::2/64 dev b0
	sysctl_ns r net.ipv4.ip_forward=1
	sysctl_ns r net.ipv4.conf.all.send_redirects=1
	sysctl_ns r net.ipv4.conf.r1.send_redirects=1
	sysctl_ns r net.ipv6.conf.all.forwarding=1
	nsx a ip link set a0 up
	nsx r ip link set r1 up
	nsx b ip link set b0 up
	# A reaches B through R although B is on A's own segment.
	nsx a ip route add 10.99.1.2/32 via 10.99.1.254
	nsx a ip -6 route add fd00:99::2/128 via fd00:99::fe
	TOPO=("topology: one segment (bridge br0 in ns ${P}br): ns ${P}a a0 $MAC_A 10.99.1.1/24 fd00:99::1/64; ns ${P}r r1 $MAC_R1 10.99.1.254/24 fd00:99::fe/64 (router: ip_forward=1, send_redirects=1, ipv6 forwarding=1); ns ${P}b b0 $MAC_B 10.99.1.2/24 fd00:99::2/64"
		"routes: on A, 'ip route add 10.99.1.2/32 via 10.99.1.254' and 'ip -6 route add fd00:99::2/128 via fd00:99::fe', so A sends to B through R, which forwards back out the same interface"
		"settings: TX checksum/TSO/GSO offload off on every veth, IPv6 accept_dad=0")
	sleep 1
}

# A bridge with the multicast querier on, host A attached. $1 = igmp|mld,
# $2 = version.
topo_querier() {
	reset_topo
	local proto=$1 ver=$2 opt
	if [[ $proto == igmp ]]; then opt="mcast_igmp_version $ver"; else opt="mcast_mld_version $ver"; fi
	newns br
	newns a
	veth a a0 "$MAC_A" br pa 02:99:00:00:01:01
	sysctl_ns br net.ipv6.conf.pa.disable_ipv6=1
	# mcast_query_interval etc. are in centiseconds (USER_HZ).
	nsx br ip link add br0 address "$MAC_BR" type bridge mcast_snooping 1 \
		mcast_querier 1 mcast_query_use_ifaddr 1 $opt mcast_query_interval 1000 \
		mcast_startup_query_interval 100 mcast_startup_query_count 3 \
		mcast_query_response_interval 500
	nsx br ip addr add 10.99.1.250/24 dev br0
	nsx br ip link set pa master br0 up
	nsx a ip addr add 10.99.1.1/24 dev a0
	nsx a ip link set a0 up
	TOPO=("topology: ns ${P}br bridge br0 $MAC_BR 10.99.1.250/24 (and IPv6 link-local), created with 'ip link add br0 type bridge mcast_snooping 1 mcast_querier 1 mcast_query_use_ifaddr 1 $opt mcast_query_interval 1000 mcast_startup_query_interval 100 mcast_startup_query_count 3 mcast_query_response_interval 500' <-port pa, veth-> ns ${P}a a0 $MAC_A 10.99.1.1/24"
		"settings: TX checksum/TSO/GSO offload off on every veth")
}

# ---------------------------------------------------------------- capture --

CAP="" CAPPID=""
cap_start() { # cap_start NS IF [tcpdump filter...]
	local ns=$1 ifc=$2
	shift 2
	NCAP=$((NCAP + 1))
	CAP=$WORK/cap$NCAP.pcap
	CAPDESC="tcpdump -i $ifc -s 0 -U${*:+ '$*'} in ns $P$ns"
	ip netns exec "$P$ns" tcpdump -Z root -i "$ifc" -s 0 -U --immediate-mode -n -w "$CAP" "$@" \
		2>"$CAP.err" &
	CAPPID=$!
	PIDS+=("$CAPPID")
	local i
	for i in $(seq 100); do
		grep -q 'listening on' "$CAP.err" 2>/dev/null && break
		sleep 0.05
	done
	sleep 0.2
}
cap_stop() {
	sleep "${1:-0.5}"
	kill -TERM "$CAPPID" 2>/dev/null
	wait "$CAPPID" 2>/dev/null
}

# wait_for FILTER SECONDS: wait until the running capture holds a frame
# matching the tshark display filter (or the time is up).
wait_for() {
	local filter=$1 secs=$2 i
	for ((i = 0; i < secs * 4; i++)); do
		if [[ -s $CAP ]] && tshark -r "$CAP" -Y "$filter" 2>/dev/null | grep -q .; then
			return 0
		fi
		sleep 0.25
	done
	log "wait_for: nothing matched '$filter' within ${secs}s"
	return 1
}

# emit NAME FILTER DESC HOW...: write NAME.hex from the last capture,
# the first frame matching tshark FILTER. EMIT_NTH selects a later match.
emit() {
	local name=$1 filter=$2 desc=$3
	shift 3
	if [[ -n ${FIXTURES:-} && " $FIXTURES " != *" $name "* ]]; then
		return 0 # not asked for: leave the existing file alone
	fi
	if pyt emit "$OUT" "$name" "$CAP" "$filter" "${EMIT_NTH:-1}" "$desc" \
		"$@" "${TOPO[@]}" "capture: $CAPDESC"; then
		MADE+=("$name")
	else
		FAILED+=("$name")
		log "FAILED: $name"
	fi
}

# ----------------------------------------------------------------- groups --

group_pair() {
	log "group pair"
	topo_pair

	# ARP: A resolves B (empty neighbour cache).
	cap_start a a0 arp
	nsx a ping -c 1 -W 1 10.99.1.2 >/dev/null
	cap_stop
	emit eth_arp_request 'arp.opcode == 1' "ARP request, kernel of A resolving 10.99.1.2" \
		"made by: ip netns exec ${P}a ping -c 1 10.99.1.2 with an empty neighbour cache"
	emit eth_arp_reply 'arp.opcode == 2' "ARP reply from the kernel of B" \
		"made by: ip netns exec ${P}a ping -c 1 10.99.1.2 with an empty neighbour cache; B answers A's request"

	# ICMP echo.
	cap_start a a0 icmp
	nsx a ping -c 1 -W 1 10.99.1.2 >/dev/null
	cap_stop
	emit ipv4_icmp_echo_request 'icmp.type == 8' "ICMP echo request (ping, 56 data bytes)" \
		"made by: ip netns exec ${P}a ping -c 1 10.99.1.2"
	emit ipv4_icmp_echo_reply 'icmp.type == 0' "ICMP echo reply from the kernel of B" \
		"made by: ip netns exec ${P}a ping -c 1 10.99.1.2"

	# Fragments.
	cap_start a a0 'ip and src host 10.99.1.1'
	nsx a ping -c 1 -W 1 -s 3000 10.99.1.2 >/dev/null
	cap_stop
	emit ipv4_icmp_echo_frag_first 'ip.flags.mf == 1 && ip.frag_offset == 0' \
		"first IPv4 fragment (MF set, offset 0) of a 3028-byte ICMP echo request, MTU 1500" \
		"made by: ip netns exec ${P}a ping -c 1 -s 3000 10.99.1.2 (the kernel fragments the 3008-byte ICMP message into 1480+1480+48 bytes)"
	emit ipv4_icmp_echo_frag_last 'ip.flags.mf == 0 && ip.frag_offset > 0' \
		"last IPv4 fragment (MF clear, offset 2960) of a 3028-byte ICMP echo request" \
		"made by: ip netns exec ${P}a ping -c 1 -s 3000 10.99.1.2"

	# ICMP port unreachable.
	cap_start a a0 icmp
	nsx a "$PY" "$WORK/tools.py" udpsend 4 10.99.1.1 40001 10.99.1.2 9 "ustack closed port"
	cap_stop
	emit ipv4_icmp_port_unreach 'icmp.type == 3 && icmp.code == 3' \
		"ICMP destination unreachable, port unreachable (type 3 code 3) from the kernel of B" \
		"made by: UDP datagram 'ustack closed port' from 10.99.1.1:40001 to 10.99.1.2:9 (no socket bound) sent with a Python UDP socket in ${P}a"

	# UDP.
	bg_ns b "$PY" "$WORK/tools.py" udpserve 4 10.99.1.2 7777 3
	sleep 0.3
	cap_start a a0 udp
	nsx a "$PY" "$WORK/tools.py" udpsend 4 10.99.1.1 40000 10.99.1.2 7777 "hello, ustack"
	nsx a "$PY" "$WORK/tools.py" udpsend 4 10.99.1.1 40002 10.99.1.2 7777 "no checksum" nocsum
	cap_stop
	emit ipv4_udp 'udp.srcport == 40000' "UDP datagram 10.99.1.1:40000 -> 10.99.1.2:7777, payload 'hello, ustack'" \
		"made by: Python socket(AF_INET, SOCK_DGRAM) in ${P}a, bind 10.99.1.1:40000, sendto 10.99.1.2:7777 b'hello, ustack' (B has a socket bound)"
	emit ipv4_udp_nocsum 'udp.srcport == 40002' "UDP datagram with checksum 0 (no checksum), payload 'no checksum'" \
		"made by: Python UDP socket in ${P}a with setsockopt(SOL_SOCKET, SO_NO_CHECK=11, 1), bind 10.99.1.1:40002, sendto 10.99.1.2:7777 b'no checksum'"

	# TCP handshake and a data segment.
	bg_ns b "$PY" "$WORK/tools.py" tcpserve 4 10.99.1.2 8080 3
	sleep 0.3
	cap_start a a0 tcp port 8080
	nsx a "$PY" "$WORK/tools.py" tcpclient 4 10.99.1.1 40080 10.99.1.2 8080 "hello, ustack"
	cap_stop
	emit ipv4_tcp_syn 'tcp.flags == 0x002' \
		"TCP SYN with options MSS 1460, SACK permitted, timestamps, NOP, window scale (the shift follows net.ipv4.tcp_rmem max; tshark shows it as WS=)" \
		"made by: Python socket(AF_INET, SOCK_STREAM) in ${P}a bind 10.99.1.1:40080 connect 10.99.1.2:8080 (listener in ${P}b); sysctl defaults (tcp_timestamps=1, tcp_sack=1, tcp_window_scaling=1)"
	emit ipv4_tcp_synack 'tcp.flags == 0x012' "TCP SYN-ACK from the kernel of B" \
		"made by: Python socket(AF_INET, SOCK_STREAM) in ${P}a bind 10.99.1.1:40080 connect 10.99.1.2:8080 (listener in ${P}b)"
	emit ipv4_tcp_data 'tcp.len > 0' "TCP data segment (PSH, ACK) with timestamps, payload 'hello, ustack'" \
		"made by: same connection as ipv4_tcp_syn; the client then send()s b'hello, ustack'"

	# TCP SACK: scapy makes a hole, B's kernel ACKs with a SACK block.
	nsx b ip neigh add 10.99.1.66 lladdr "$MAC_A" dev b0
	bg_ns b "$PY" "$WORK/tools.py" tcpserve 4 10.99.1.2 8081 4
	sleep 0.3
	cap_start a a0 tcp port 8081
	nsx a "$PY" "$WORK/provoke.py" sack "$MAC_A" "$MAC_B" a0
	cap_stop
	emit ipv4_tcp_ack_sack 'tcp.srcport == 8081 && tcp.options.sack_le' \
		"TCP duplicate ACK from the kernel of B carrying one SACK block (and timestamps)" \
		"made by: scapy in ${P}a (provoke.py sack) handshakes from 10.99.1.66:40066 (not owned by any kernel; B has 'ip neigh add 10.99.1.66 lladdr $MAC_A') to 10.99.1.2:8081 with MSS/SACK-permitted/timestamps/wscale, ISN 1000, then sends 100 bytes at seq 1101 leaving bytes 1001-1100 missing; B's kernel answers with ACK 1001 SACK 1101-1201"

	# IPv4 parameter problem.
	cap_start a a0 icmp
	nsx a "$PY" "$WORK/provoke.py" param4 "$MAC_A" "$MAC_B" a0
	cap_stop
	emit ipv4_icmp_param_problem 'icmp.type == 12' \
		"ICMP parameter problem (type 12 code 0, pointer 21) from the kernel of B" \
		"made by: scapy in ${P}a (provoke.py param4) sends B an ICMP echo request whose IPv4 header has options 07 02 00 00 (record route with length 2 < 3, malformed); B's kernel (ip_options_compile) answers pointing at the length byte"

	# IPv6 echo, neighbour discovery.
	nsx a ip -6 neigh flush dev a0
	nsx b ip -6 neigh flush dev b0
	cap_start a a0 icmp6
	nsx a ping -6 -c 1 -W 1 fd00:99::2 >/dev/null
	cap_stop
	emit ipv6_ns 'icmpv6.type == 135' \
		"neighbour solicitation from A for fd00:99::2 with a source link-layer address option" \
		"made by: ip netns exec ${P}a ping -6 -c 1 fd00:99::2 with an empty neighbour cache"
	emit ipv6_na 'icmpv6.type == 136' \
		"solicited neighbour advertisement from B with a target link-layer address option" \
		"made by: ip netns exec ${P}a ping -6 -c 1 fd00:99::2 with an empty neighbour cache; B answers A's solicitation"
	emit ipv6_icmpv6_echo_request 'icmpv6.type == 128' "ICMPv6 echo request (ping -6, 56 data bytes)" \
		"made by: ip netns exec ${P}a ping -6 -c 1 fd00:99::2"
	emit ipv6_icmpv6_echo_reply 'icmpv6.type == 129' "ICMPv6 echo reply from the kernel of B" \
		"made by: ip netns exec ${P}a ping -6 -c 1 fd00:99::2"

	# IPv6 fragments.
	cap_start a a0 'ip6 and src host fd00:99::1'
	nsx a ping -6 -c 1 -W 1 -s 3000 fd00:99::2 >/dev/null
	cap_stop
	emit ipv6_frag_first 'ipv6.fraghdr.offset == 0 && ipv6.fraghdr.more == 1' \
		"first IPv6 fragment (offset 0, M set) of a 3008-byte ICMPv6 echo request, MTU 1500" \
		"made by: ip netns exec ${P}a ping -6 -c 1 -s 3000 fd00:99::2 (fragments of 1448+1448+112 bytes)"
	emit ipv6_frag_last 'ipv6.fraghdr.offset > 0 && ipv6.fraghdr.more == 0' \
		"last IPv6 fragment (offset 2896, M clear) of a 3008-byte ICMPv6 echo request" \
		"made by: ip netns exec ${P}a ping -6 -c 1 -s 3000 fd00:99::2"

	# IPv6 UDP, port unreachable, destination options.
	bg_ns b "$PY" "$WORK/tools.py" udpserve 6 fd00:99::2 7777 3
	sleep 0.3
	cap_start a a0 ip6
	nsx a "$PY" "$WORK/tools.py" udpsend 6 fd00:99::1 40000 fd00:99::2 7777 "hello, ustack"
	nsx a "$PY" "$WORK/tools.py" udpsend 6 fd00:99::1 40003 fd00:99::2 7777 "dstopts" \
		dstopts=00001e02abcd0100
	nsx a "$PY" "$WORK/tools.py" udpsend 6 fd00:99::1 40001 fd00:99::2 9 "ustack closed port"
	cap_stop
	emit ipv6_udp 'udp.srcport == 40000' "UDP over IPv6 [fd00:99::1]:40000 -> [fd00:99::2]:7777, payload 'hello, ustack'" \
		"made by: Python socket(AF_INET6, SOCK_DGRAM) in ${P}a, bind [fd00:99::1]:40000, sendto [fd00:99::2]:7777 b'hello, ustack'"
	emit ipv6_dstopts 'ipv6.dstopts && udp.srcport == 40003' \
		"IPv6 + destination options header (option 0x1e len 2 data abcd, PadN len 0) + UDP 'dstopts'" \
		"made by: Python UDP socket in ${P}a with setsockopt(IPPROTO_IPV6, IPV6_DSTOPTS=59, bytes.fromhex('00001e02abcd0100')) (next header and length bytes are filled by the kernel; needs CAP_NET_RAW), bind [fd00:99::1]:40003, sendto [fd00:99::2]:7777 b'dstopts'. Option type 0x1e is the RFC 4727 experimental type with action bits 00 (skip)"
	emit ipv6_icmpv6_port_unreach 'icmpv6.type == 1 && icmpv6.code == 4' \
		"ICMPv6 destination unreachable, port unreachable (type 1 code 4) from the kernel of B" \
		"made by: UDP datagram 'ustack closed port' from [fd00:99::1]:40001 to [fd00:99::2]:9 (no socket bound) sent with a Python UDP socket in ${P}a"

	# IPv6 TCP handshake.
	bg_ns b "$PY" "$WORK/tools.py" tcpserve 6 fd00:99::2 8080 3
	sleep 0.3
	cap_start a a0 tcp port 8080
	nsx a "$PY" "$WORK/tools.py" tcpclient 6 fd00:99::1 40080 fd00:99::2 8080
	cap_stop
	emit ipv6_tcp_syn 'tcp.flags == 0x002' \
		"TCP SYN over IPv6 with options MSS 1440, SACK permitted, timestamps, NOP, window scale" \
		"made by: Python socket(AF_INET6, SOCK_STREAM) in ${P}a bind [fd00:99::1]:40080 connect [fd00:99::2]:8080 (listener in ${P}b)"
	emit ipv6_tcp_synack 'tcp.flags == 0x012' "TCP SYN-ACK over IPv6 from the kernel of B" \
		"made by: Python socket(AF_INET6, SOCK_STREAM) in ${P}a bind [fd00:99::1]:40080 connect [fd00:99::2]:8080 (listener in ${P}b)"

	# IPv6 parameter problem.
	cap_start a a0 icmp6
	nsx a "$PY" "$WORK/provoke.py" param6 "$MAC_A" "$MAC_B" a0
	cap_stop
	emit ipv6_icmpv6_param_problem 'icmpv6.type == 4' \
		"ICMPv6 parameter problem, unrecognized option (type 4 code 2, pointer 42) from the kernel of B" \
		"made by: scapy in ${P}a (provoke.py param6) sends B an ICMPv6 echo request with a destination options header holding option type 0x9e (action bits 10: discard, send parameter problem) len 4"

	# Segment routing header.
	cap_start a a0 ip6
	nsx a ip -6 route add fd00:99:5::/64 encap seg6 mode inline \
		segs fd00:99::2,fd00:99:4::4 dev a0
	nsx a ping -6 -c 1 -W 1 fd00:99:5::5 >/dev/null
	cap_stop
	emit ipv6_routing 'ipv6.routing.type == 4' \
		"IPv6 segment routing header (routing type 4) inserted by the kernel (seg6 inline mode) in an ICMPv6 echo request" \
		"made by: in ${P}a 'ip -6 route add fd00:99:5::/64 encap seg6 mode inline segs fd00:99::2,fd00:99:4::4 dev a0' then 'ping -6 -c 1 fd00:99:5::5' (the final destination fd00:99:5::5 becomes segment 0; segments left 2)"
}

group_routed() {
	log "group routed"
	topo_routed
	# Warm the neighbour caches so only the packets of interest are sent.
	nsx a ping -c 1 -W 1 10.99.2.3 >/dev/null
	nsx a ping -6 -c 1 -W 1 fd00:99:2::3 >/dev/null

	# Record route: the echo reply as it comes back to A, after R and C
	# have added their addresses.
	cap_start a a0 icmp
	nsx a ping -c 1 -W 1 -R 10.99.2.3 >/dev/null
	cap_stop
	emit ipv4_opt_record_route 'icmp.type == 0 && ip.opt.type == 7' \
		"ICMP echo reply from C, routed back through R, with the IPv4 record-route option (RFC 791 3.1) filled in by A, R (both ways) and C" \
		"made by: ip netns exec ${P}a ping -c 1 -R 10.99.2.3; this is the reply as received on A (C's kernel echoes the request's option, see ip_options_echo)"

	# Timestamp option, timestamps only.
	cap_start a a0 icmp
	nsx a ping -c 1 -W 1 -T tsonly 10.99.2.3 >/dev/null
	cap_stop
	emit ipv4_opt_timestamp 'icmp.type == 0 && ip.opt.type == 68' \
		"ICMP echo reply from C, routed back through R, with the IPv4 timestamp option, flag 0 (timestamps only; RFC 791 3.1)" \
		"made by: ip netns exec ${P}a ping -c 1 -T tsonly 10.99.2.3; this is the reply as received on A"

	# Fragmentation needed: DF packet of 1328 bytes, next hop MTU 1280.
	cap_start a a0 icmp
	nsx a ping -c 1 -W 1 -M do -s 1300 10.99.2.3 >/dev/null
	cap_stop
	emit ipv4_icmp_frag_needed 'icmp.type == 3 && icmp.code == 4' \
		"ICMP destination unreachable, fragmentation needed and DF set (type 3 code 4), next-hop MTU 1280 (RFC 1191), from router R" \
		"made by: ip netns exec ${P}a ping -c 1 -M do -s 1300 10.99.2.3 (1328-byte packet with DF; R's link to C has MTU 1280)"

	# Time exceeded.
	cap_start a a0 icmp
	nsx a ping -c 1 -W 1 -t 1 10.99.2.3 >/dev/null
	cap_stop
	emit ipv4_icmp_time_exceeded 'icmp.type == 11' \
		"ICMP time exceeded in transit (type 11 code 0) from router R" \
		"made by: ip netns exec ${P}a ping -c 1 -t 1 10.99.2.3 (TTL 1 expires at R)"

	# Packet too big.
	cap_start a a0 icmp6
	nsx a ping -6 -c 1 -W 1 -s 1300 fd00:99:2::3 >/dev/null
	cap_stop
	emit ipv6_icmpv6_packet_too_big 'icmpv6.type == 2' \
		"ICMPv6 packet too big (type 2), MTU 1280, from router R" \
		"made by: ip netns exec ${P}a ping -6 -c 1 -s 1300 fd00:99:2::3 (1348-byte packet; R's link to C has MTU 1280)"

	# Time exceeded (hop limit).
	cap_start a a0 icmp6
	nsx a ping -6 -c 1 -W 1 -t 1 fd00:99:2::3 >/dev/null
	cap_stop
	emit ipv6_icmpv6_time_exceeded 'icmpv6.type == 3' \
		"ICMPv6 time exceeded, hop limit exceeded in transit (type 3 code 0) from router R" \
		"made by: ip netns exec ${P}a ping -6 -c 1 -t 1 fd00:99:2::3 (hop limit 1 expires at R)"
}

group_lan() {
	log "group lan"
	topo_lan
	# R must know B's link-layer address before it can name it in an IPv6
	# redirect (ndisc_send_redirect sends none for an unresolved target).
	nsx r ping -c 1 -W 1 10.99.1.2 >/dev/null
	nsx r ping -6 -c 1 -W 1 fd00:99::2 >/dev/null
	nsx a ping -c 1 -W 1 10.99.1.254 >/dev/null
	nsx a ping -6 -c 1 -W 1 fd00:99::fe >/dev/null

	cap_start a a0 icmp
	nsx a ping -c 1 -W 1 10.99.1.2 >/dev/null
	cap_stop
	emit ipv4_icmp_redirect 'icmp.type == 5' \
		"ICMP redirect for host (type 5 code 1) from router R: use gateway 10.99.1.2 for 10.99.1.2" \
		"made by: ip netns exec ${P}a ping -c 1 10.99.1.2: A sends the echo request to R, which forwards it back out the interface it came in on to B and sends A a redirect"

	cap_start a a0 icmp6
	nsx a ping -6 -c 1 -W 1 fd00:99::2 >/dev/null
	cap_stop
	emit ipv6_redirect 'icmpv6.type == 137' \
		"ICMPv6 redirect (type 137) from router R's link-local address: target = destination fd00:99::2 (on-link), with target link-layer address and redirected header options" \
		"made by: ip netns exec ${P}a ping -6 -c 1 fd00:99::2: A sends the echo request to R, which forwards it back out the same interface to B and sends A a redirect (R resolved B beforehand)"
}

group_mcast() {
	log "group mcast"
	topo_pair

	# IGMPv2 report and leave.
	sysctl_ns a net.ipv4.conf.a0.force_igmp_version=2
	cap_start a a0 igmp
	nsx a "$PY" "$WORK/tools.py" join 4 a0 239.99.1.1 1
	cap_stop
	emit ipv4_igmpv2_report 'igmp.type == 0x16 && igmp.maddr == 239.99.1.1' \
		"IGMPv2 membership report for 239.99.1.1 (type 0x16), IPv4 router alert option, TTL 1" \
		"made by: in ${P}a, sysctl net.ipv4.conf.a0.force_igmp_version=2, then a Python UDP socket joins 239.99.1.1 on a0 (IP_ADD_MEMBERSHIP), holds it 1 s and leaves (IP_DROP_MEMBERSHIP)"
	emit ipv4_igmpv2_leave 'igmp.type == 0x17' \
		"IGMPv2 leave group for 239.99.1.1 (type 0x17) to 224.0.0.2, router alert option" \
		"made by: in ${P}a, sysctl net.ipv4.conf.a0.force_igmp_version=2, then a Python UDP socket joins 239.99.1.1 on a0, holds it 1 s and leaves (IP_DROP_MEMBERSHIP)"

	# IGMPv3 report (kernel default version).
	sysctl_ns a net.ipv4.conf.a0.force_igmp_version=0
	cap_start a a0 igmp
	nsx a "$PY" "$WORK/tools.py" join 4 a0 239.99.1.3 1
	cap_stop
	emit ipv4_igmpv3_report 'igmp.type == 0x22 && igmp.maddr == 239.99.1.3' \
		"IGMPv3 membership report (type 0x22) to 224.0.0.22: one group record CHANGE_TO_EXCLUDE_MODE for 239.99.1.3, no sources; router alert option" \
		"made by: in ${P}a (force_igmp_version=0, the default: IGMPv3), a Python UDP socket joins 239.99.1.3 on a0 (IP_ADD_MEMBERSHIP)"

	# MLDv2 report (kernel default version).
	cap_start a a0 ip6
	nsx a "$PY" "$WORK/tools.py" join 6 a0 ff15::99 1
	cap_stop
	emit ipv6_hbh_mldv2_report 'icmpv6.type == 143 && icmpv6.mldr.mar.multicast_address == ff15::99' \
		"MLDv2 report (type 143) to ff02::16 with a hop-by-hop options header holding the router alert option: one record CHANGE_TO_EXCLUDE_MODE for ff15::99" \
		"made by: in ${P}a (force_mld_version=0, the default: MLDv2), a Python socket joins ff15::99 on a0 (IPV6_JOIN_GROUP)"

	# MLDv1 report and done.
	sysctl_ns a net.ipv6.conf.a0.force_mld_version=1
	cap_start a a0 ip6
	nsx a "$PY" "$WORK/tools.py" join 6 a0 ff15::98 1
	cap_stop
	emit ipv6_mldv1_report 'icmpv6.type == 131 && icmpv6.mld.multicast_address == ff15::98' \
		"MLDv1 report (type 131) for ff15::98, hop-by-hop router alert" \
		"made by: in ${P}a, sysctl net.ipv6.conf.a0.force_mld_version=1, then a Python socket joins ff15::98 on a0 (IPV6_JOIN_GROUP), holds it 1 s and leaves"
	emit ipv6_mldv1_done 'icmpv6.type == 132' \
		"MLDv1 done (type 132) for ff15::98 to ff02::2, hop-by-hop router alert" \
		"made by: in ${P}a, sysctl net.ipv6.conf.a0.force_mld_version=1, then a Python socket joins ff15::98 on a0, holds it 1 s and leaves (IPV6_LEAVE_GROUP)"
}

group_ra() {
	log "group ra"
	topo_pair

	# Router solicitation: A's kernel sends one when a0 comes up (accept_ra=1,
	# forwarding=0 are the defaults).
	# a0 is down while the capture starts, so capture on B's end (b0).
	nsx a ip link set a0 down
	cap_start b b0 icmp6
	nsx a ip link set a0 up
	wait_for "icmpv6.type == 133 && eth.src == $MAC_A" 8
	cap_stop
	emit ipv6_rs "icmpv6.type == 133 && eth.src == $MAC_A" \
		"router solicitation (type 133) from A's link-local address to ff02::2 with a source link-layer address option" \
		"made by: in ${P}a 'ip link set a0 down; ip link set a0 up' (defaults accept_ra=1, forwarding=0, router_solicitations=-1; DAD off so the link-local address is usable at once); B also solicits when its carrier comes back, the filter picks A's"

	# Router advertisement from radvd on B.
	sysctl_ns b net.ipv6.conf.all.forwarding=1
	cat >"$WORK/radvd.conf" <<-'EOF2'
	interface b0 {
		AdvSendAdvert on;
		MinRtrAdvInterval 3;
		MaxRtrAdvInterval 10;
		AdvDefaultLifetime 1800;
		AdvLinkMTU 1400;
		AdvSourceLLAddress on;
		prefix fd00:99::/64 {
			AdvOnLink on;
			AdvAutonomous on;
			AdvValidLifetime 86400;
			AdvPreferredLifetime 14400;
		};
		RDNSS fd00:99::53 {
			AdvRDNSSLifetime 600;
		};
		DNSSL ustack.test example.test {
			AdvDNSSLLifetime 600;
		};
	};
	EOF2
	chmod 644 "$WORK/radvd.conf"
	cap_start a a0 icmp6
	bg_ns b radvd -n -m stderr -C "$WORK/radvd.conf" -p "$WORK/radvd.pid" 2>"$WORK/radvd.log"
	wait_for 'icmpv6.type == 134' 10
	cap_stop
	emit ipv6_ra 'icmpv6.type == 134' \
		"router advertisement from radvd on B to ff02::1: options source link-layer address, MTU 1400, prefix information fd00:99::/64 (L, A), RDNSS fd00:99::53, DNSSL ustack.test example.test" \
		"made by: radvd $(radvd --version 2>&1 | sed -n 's/^Version: //p') in ${P}b (net.ipv6.conf.all.forwarding=1) started with 'radvd -n -C radvd.conf', its first (unsolicited) advertisement; radvd.conf: $(tr -s ' \t\n' ' ' <"$WORK/radvd.conf")"
}

group_dad() {
	log "group dad"
	topo_pair
	sysctl_ns a net.ipv6.conf.a0.accept_dad=1
	sysctl_ns a net.ipv6.conf.a0.enhanced_dad=1
	cap_start a a0 ip6
	nsx a ip addr add fd00:99::dad/64 dev a0
	wait_for 'icmpv6.type == 135 && ipv6.src == ::' 5
	cap_stop
	emit ipv6_ns_dad 'icmpv6.type == 135 && ipv6.src == :: && icmpv6.nd.ns.target_address == fd00:99::dad' \
		"duplicate address detection NS from :: to the solicited-node group of fd00:99::dad, with a nonce option (type 14, RFC 7527)" \
		"made by: in ${P}a, sysctl net.ipv6.conf.a0.accept_dad=1 and enhanced_dad=1 (the default), then 'ip addr add fd00:99::dad/64 dev a0'"
}

# Bridge querier groups.
querier() { # querier igmp|mld VERSION NAME FILTER DESC
	local proto=$1 ver=$2 name=$3 filter=$4 desc=$5
	topo_querier "$proto" "$ver"
	cap_start a a0
	nsx br ip link set br0 up
	wait_for "$filter" 12
	cap_stop
	emit "$name" "$filter" "$desc" \
		"made by: the Linux bridge's own multicast querier (mcast_querier 1, mcast_query_use_ifaddr 1), one of its startup general queries, captured on the host attached to the bridge"
}
group_igmp2q() {
	log "group igmp2q"
	querier igmp 2 ipv4_igmpv2_query 'igmp.type == 0x11' \
		"IGMPv2 general query (type 0x11, group 0.0.0.0, max response time 5 s) from the Linux bridge querier to 224.0.0.1, router alert option"
}
group_igmp3q() {
	log "group igmp3q"
	querier igmp 3 ipv4_igmpv3_query 'igmp.type == 0x11' \
		"IGMPv3 general query (type 0x11, 12-byte message with QRV/QQIC, no sources) from the Linux bridge querier to 224.0.0.1, router alert option"
}
group_mld1q() {
	log "group mld1q"
	querier mld 1 ipv6_mldv1_query 'icmpv6.type == 130' \
		"MLDv1 general query (type 130, address ::) from the Linux bridge querier's link-local address to ff02::1, hop-by-hop router alert"
}
group_mld2q() {
	log "group mld2q"
	querier mld 2 ipv6_mldv2_query 'icmpv6.type == 130' \
		"MLDv2 general query (type 130, 28-byte message with QRV/QQIC, no sources) from the Linux bridge querier's link-local address to ff02::1, hop-by-hop router alert"
}

GROUPS_ALL=(pair routed lan mcast ra dad igmp2q igmp3q mld1q mld2q)
RUN=("$@")
[[ ${#RUN[@]} -eq 0 ]] && RUN=("${GROUPS_ALL[@]}")

for t in ip tcpdump tshark text2pcap ping radvd "$PY"; do
	command -v "$t" >/dev/null || { log "missing tool: $t"; exit 1; }
done
"$PY" -c 'import scapy.all' 2>/dev/null || { log "$PY has no scapy"; exit 1; }
for g in "${RUN[@]}"; do
	if ! declare -F "group_$g" >/dev/null; then
		log "unknown group '$g' (groups: ${GROUPS_ALL[*]})"
		exit 2
	fi
done

mkdir -p "$OUT"
del_all_ns
for g in "${RUN[@]}"; do
	"group_$g"
done
reset_topo

log "made ${#MADE[@]} fixture(s): ${MADE[*]}"
if [[ ${#FAILED[@]} -gt 0 ]]; then
	log "FAILED ${#FAILED[@]}: ${FAILED[*]}"
	exit 1
fi

package tcp

// State is the state of a TCP connection, in the order RFC 9293 §3.3.2
// lists them. An endpoint that has no connection yet (neither listening
// nor connecting) is in StateClosed.
//
// The transitions (RFC 9293 §3.3.2, Figure 6), as this package makes
// them:
//
//	                         CLOSED
//	          Listen ↙                  ↘ Connect: snd SYN
//	      LISTEN                             SYN-SENT
//	  rcv SYN: snd SYN,ACK  ──▶ SYN-RECEIVED ◀── rcv SYN: snd SYN,ACK
//	  (a half-open entry of      │ rcv ACK of SYN     (simultaneous open)
//	   the listener)             ▼                    │ rcv SYN,ACK: snd ACK
//	                        ESTABLISHED ◀─────────────┘
//	   Close/Shutdown: snd FIN ↙       ↘ rcv FIN: snd ACK
//	        FIN-WAIT-1                    CLOSE-WAIT
//	 rcv ACK ↙    ↘ rcv FIN: snd ACK          │ Close: snd FIN
//	FIN-WAIT-2    CLOSING                 LAST-ACK
//	 │ rcv FIN      │ rcv ACK of FIN          │ rcv ACK of FIN
//	 ▼ snd ACK      ▼                         ▼
//	        TIME-WAIT ──2·MSL──▶ CLOSED ◀─────┘
//
// An RST, a timeout or Abort moves any state to CLOSED.
type State uint8

// The states of RFC 9293 §3.3.2.
const (
	StateListen State = iota
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
	StateClosed
)

var stateNames = [...]string{
	StateListen:      "LISTEN",
	StateSynSent:     "SYN-SENT",
	StateSynReceived: "SYN-RECEIVED",
	StateEstablished: "ESTABLISHED",
	StateFinWait1:    "FIN-WAIT-1",
	StateFinWait2:    "FIN-WAIT-2",
	StateCloseWait:   "CLOSE-WAIT",
	StateClosing:     "CLOSING",
	StateLastAck:     "LAST-ACK",
	StateTimeWait:    "TIME-WAIT",
	StateClosed:      "CLOSED",
}

// String returns the state's name as RFC 9293 spells it.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "STATE(?)"
}

// synchronized reports whether s is one of the synchronized states of
// RFC 9293 §3.5.2 (the handshake has completed).
func (s State) synchronized() bool {
	return s >= StateEstablished && s <= StateTimeWait
}

// connected reports whether the connection may still carry data in some
// direction: ESTABLISHED through LAST-ACK.
func (s State) connected() bool {
	return s >= StateEstablished && s <= StateLastAck
}

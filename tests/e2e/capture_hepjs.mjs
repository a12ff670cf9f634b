// Sends SIP messages as HEP3 packets encoded by the real hep-js library (npm hep-js,
// sipcapture's encoder) over UDP, for tests/e2e/test_capture_peers.py.
//   node tests/e2e/capture_hepjs.mjs FILE.json
// FILE: {"target": "HOST:PORT", "packets": [{"payload": "...", "rcinfo": {...}}]} where
// rcinfo has hep-js's keys (protocolFamily, protocol, srcIp, dstIp, srcPort, dstPort,
// timeSeconds, timeUseconds, payloadType, captureId, capturePass, hepNodeName,
// correlation_id). Prints {"sent": N, "bytes": [..]} and exits 0 once all were sent.
import dgram from "node:dgram";
import fs from "node:fs";
import HEPjs from "hep-js";

const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const at = spec.target.lastIndexOf(":");
const host = spec.target.slice(0, at), port = parseInt(spec.target.slice(at + 1), 10);
const sock = dgram.createSocket("udp4");
const sizes = [];
for (const p of spec.packets) {
  const buf = HEPjs.encapsulate(p.payload, p.rcinfo);
  sizes.push(buf.length);
  await new Promise((resolve, reject) => sock.send(buf, port, host, (e) => (e ? reject(e) : resolve())));
}
sock.close();
console.log(JSON.stringify({ sent: sizes.length, bytes: sizes }));

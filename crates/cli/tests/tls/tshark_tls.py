#!/usr/bin/env python3
"""tshark's reading of the TLS handshakes in a capture, one JSON object per TCP stream.

Usage: tshark_tls.py CAPTURE PORT...   (each PORT decoded as TLS: `-d tcp.port==PORT,tls`)

Everything comes from tshark's PDML (`-T pdml`), the independent oracle of
crates/cli/tests/tls_live.rs; nothing here parses TLS bytes itself. Per TCP stream:

- `client_port`: the source port of the stream's ClientHello;
- `sni`, `alpn_offered`, `client_version` (the highest of supported_versions, else the
  ClientHello's version; tshark's name, "TLS 1.3");
- `version`, `cipher` (tshark's names of the ServerHello's supported_version, else its
  version, and of its cipher suite), `alpn` (the ServerHello's ALPN, TLS <= 1.2 only);
- `alerts`: [level, code, "client"|"server"] of every alert tshark decoded (in clear);
- `client_types`, `server_types`: handshake message types in clear, in order;
- `ja4`: JA4 of the first ClientHello, computed here from tshark's fields following
  FoxIO's public specification (technical_details/JA4.md; JA4 itself is BSD-3-Clause):
  `t` + version (highest supported_version, else the ClientHello version: 13, 12, 11,
  10, s3) + `d`/`i` (SNI or not) + two-digit counts of cipher suites and of extensions
  (GREASE left out, at most 99) + first and last character of the first ALPN value (`00`
  without ALPN) `_` 12 hex of SHA-256 over the sorted 4-hex cipher list `_` 12 hex of
  SHA-256 over the sorted extension list without SNI (0000) and ALPN (0010), then `_`
  and the signature algorithms in order (no `_` part without them); an empty list hashes
  to twelve zeros. tshark 4.0 has no JA4 field of its own.
"""

import hashlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET


def is_grease(v):
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def name_of(showname):
    """'Cipher Suite: TLS_AES_256_GCM_SHA384 (0x1302)' -> 'TLS_AES_256_GCM_SHA384'."""
    text = showname.split(": ", 1)[-1]
    return text.rsplit(" (0x", 1)[0]


def h12(text):
    if not text:
        return "000000000000"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}


def ja4(hello):
    ciphers = [c for c in hello["ciphers"] if not is_grease(c)]
    exts = [e for e in hello["exts"] if not is_grease(e)]
    versions = [v for v in hello["supported_versions"] if not is_grease(v)]
    version = max(versions) if versions else hello["version"]
    alpn = hello["alpn"][0] if hello["alpn"] else ""
    if not alpn:
        a = "00"
    elif alpn[0].isalnum() and alpn[-1].isalnum():
        a = alpn[0] + alpn[-1]
    else:
        raw = alpn.encode()
        a = "%02x" % raw[0]
        a = a[0] + ("%02x" % raw[-1])[1]
    head = "t%s%s%02d%02d%s" % (
        JA4_VERSIONS.get(version, "00"),
        "d" if 0 in exts else "i",
        min(len(ciphers), 99),
        min(len(exts), 99),
        a,
    )
    b = h12(",".join("%04x" % c for c in sorted(ciphers)))
    c_text = ",".join("%04x" % e for e in sorted(exts) if e not in (0x0000, 0x0010))
    if hello["sig_algs"]:
        c_text += "_" + ",".join("%04x" % s for s in hello["sig_algs"])
    c = h12(c_text) if c_text else "000000000000"
    return "%s_%s_%s" % (head, b, c)


def fields(elem, name):
    return [f for f in elem.iter("field") if f.get("name") == name]


def first(elem, name):
    for f in elem.iter("field"):
        if f.get("name") == name:
            return f
    return None


def client_hello(hs):
    h = {
        "version": int(first(hs, "tls.handshake.version").get("show"), 16),
        "ciphers": [int(f.get("show"), 16) for f in fields(hs, "tls.handshake.ciphersuite")],
        "exts": [],
        "supported_versions": [],
        "sig_algs": [],
        "alpn": [f.get("show") for f in fields(hs, "tls.handshake.extensions_alpn_str")],
        "sni": None,
        "version_names": {},
    }
    for ext in hs:
        t = first(ext, "tls.handshake.extension.type")
        if ext.tag != "field" or t is None or ext.get("name") != "":
            continue
        typ = int(t.get("show"))
        h["exts"].append(typ)
        if typ == 13:
            h["sig_algs"] = [int(f.get("show"), 16) for f in fields(ext, "tls.handshake.sig_hash_alg")]
        elif typ == 43:
            for f in fields(ext, "tls.handshake.extensions.supported_version"):
                v = int(f.get("show"), 16)
                h["supported_versions"].append(v)
                h["version_names"][v] = name_of(f.get("showname"))
        elif typ == 0:
            s = first(ext, "tls.handshake.extensions_server_name")
            h["sni"] = s.get("show") if s is not None else None
    return h


def main():
    capture, ports = sys.argv[1], sys.argv[2:]
    cmd = ["tshark", "-r", capture, "-T", "pdml", "-Y", "tls"]
    for p in ports:
        cmd += ["-d", "tcp.port==%s,tls" % p]
    pdml = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    streams = {}
    for packet in ET.fromstring(pdml).iter("packet"):
        stream = int(first(packet, "tcp.stream").get("show"))
        src = int(first(packet, "tcp.srcport").get("show"))
        s = streams.setdefault(stream, {
            "stream": stream, "client_port": None, "sni": None, "alpn_offered": [],
            "client_version": None, "version": None, "cipher": None, "alpn": None,
            "alerts": [], "client_types": [], "server_types": [], "ja4": None,
        })
        for rec in fields(packet, "tls.record"):
            for hs in [f for f in rec if f.get("name") == "tls.handshake"]:
                t = first(hs, "tls.handshake.type")
                if t is None:
                    continue  # encrypted handshake message
                typ = int(t.get("show"))
                if typ == 1:
                    s["client_types"].append(typ)
                    if s["client_port"] is not None:
                        continue
                    h = client_hello(hs)
                    s["client_port"] = src
                    s["sni"] = h["sni"]
                    s["alpn_offered"] = h["alpn"]
                    vs = [v for v in h["supported_versions"] if not is_grease(v)]
                    if vs:
                        s["client_version"] = h["version_names"][max(vs)]
                    else:
                        s["client_version"] = name_of(first(hs, "tls.handshake.version").get("showname"))
                    s["ja4"] = ja4(h)
                else:
                    mine = "client_types" if src == s["client_port"] else "server_types"
                    s[mine].append(typ)
                if typ == 2:
                    sv = first(hs, "tls.handshake.extensions.supported_version")
                    v = sv if sv is not None else first(hs, "tls.handshake.version")
                    s["version"] = name_of(v.get("showname"))
                    s["cipher"] = name_of(first(hs, "tls.handshake.ciphersuite").get("showname"))
                    a = first(hs, "tls.handshake.extensions_alpn_str")
                    s["alpn"] = a.get("show") if a is not None else None
            for al in [f for f in rec if f.get("name") == "tls.alert_message"]:
                level = first(al, "tls.alert_message.level")
                desc = first(al, "tls.alert_message.desc")
                if level is not None and desc is not None:
                    who = "client" if src == s["client_port"] else "server"
                    s["alerts"].append([int(level.get("show")), int(desc.get("show")), who])
    for k in sorted(streams):
        print(json.dumps(streams[k], sort_keys=True))


if __name__ == "__main__":
    main()

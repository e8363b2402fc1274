#!/usr/bin/env python3
"""Frames and pcap files for the dataplane's integration tests.

Written independently of the dataplane's own generator so the tests check
the C code against a second implementation of the same RFCs. Standard
library only.
"""
import struct
import sys

ETH_IP4, ETH_IP6, ETH_VLAN = 0x0800, 0x86DD, 0x8100


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4_udp(src, dst, sport, dport, payload, ip_len_delta=0):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    tot = 20 + len(udp) + ip_len_delta
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, 1, 0x4000, 64, 17, 0,
                      bytes(src), bytes(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + udp


def udp_csum(src, dst, udp):
    """RFC 768 / RFC 8200 §8.1 checksum of a UDP datagram with its pseudo-header."""
    proto_len = struct.pack("!BBH", 0, 17, len(udp)) if len(src) == 4 else \
        struct.pack("!IxxxB", len(udp), 17)
    c = csum(bytes(src) + bytes(dst) + proto_len + udp)
    return c or 0xFFFF


def ipv4_udp_ck(src, dst, sport, dport, payload):
    """IPv4/UDP with a real UDP checksum (ipv4_udp leaves it 0)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    udp = udp[:6] + struct.pack("!H", udp_csum(src, dst, udp)) + udp[8:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0,
                      bytes(src), bytes(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + udp


def ipv6_udp(src, dst, sport, dport, payload):
    """IPv6/UDP, checksum mandatory (RFC 8200 §8.1)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    udp = udp[:6] + struct.pack("!H", udp_csum(src, dst, udp)) + udp[8:]
    return struct.pack("!IHBB16s16s", 0x60000000, len(udp), 17, 64, bytes(src), bytes(dst)) + udp


def eth(dst, src, etype, payload, vlan=None):
    if vlan is not None:
        return dst + src + struct.pack("!HHH", ETH_VLAN, vlan, etype) + payload
    return dst + src + struct.pack("!H", etype) + payload


def quic_initial(dcid, scid, size=1200):
    """RFC 9000 §17.2.2 Initial, token length 0, padded to size bytes."""
    hdr = bytes([0xC3]) + struct.pack("!I", 1) + bytes([len(dcid)]) + dcid + \
        bytes([len(scid)]) + scid + b"\x00"
    rest = max(size - len(hdr) - 2, 4)
    return hdr + struct.pack("!H", 0x4000 | rest) + bytes(rest)


def quic_short(dcid, size=64):
    """RFC 9000 §17.3.1 1-RTT packet with the given DCID."""
    body = bytes([0x43]) + dcid
    return body + bytes(max(size - len(body), 4))


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i, 0, len(fr), len(fr)))
            f.write(fr)


def read_pcap(path):
    out = []
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        out.append(data[off:off + incl])
        off += incl
    return out


if __name__ == "__main__":
    sys.exit("library module")

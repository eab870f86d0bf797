"""The binary range coder of FORMAT.md section 4.1.14, written from the spec for the MIXED reference
(`lcodec.mixing.reference`): plain Python integers with the spec's 64-bit wrapping written out."""

M64 = (1 << 64) - 1
TRIM = 2  # trailing zero bytes an encoder may leave implicit (FORMAT.md section 4)


class Encoder:
    """The range encoder: a decision of probability p (of a 1, in 2^-16) codes bit 0 as [0, 65536 - p) and bit 1 as
    [65536 - p, 65536)."""

    def __init__(self):
        self.low, self.range, self.cache, self.pending, self.carry, self.started = 0, M64, 0, 0, 0, 0
        self.out = bytearray()
        self.carries = 0  # for tests

    def code(self, bit, p):
        split = 65536 - p
        c_lo, c_hi = (split, 65536) if bit else (0, split)
        r = self.range >> 16
        low = (self.low + r * c_lo) & M64
        if low < self.low:
            self.carry = 1
            self.carries += 1
        self.low = low
        self.range = r * (c_hi - c_lo)
        while self.range < 1 << 56:
            self.range <<= 8
            self._shift()
        return bit

    def _shift(self):
        top = self.low >> 56
        if not self.started:
            self.cache, self.started = top, 1
        elif self.carry or top != 255:
            self.out.append((self.cache + self.carry) & 255)
            self.out += bytes([(255 + self.carry) & 255]) * self.pending
            self.pending, self.cache, self.carry = 0, top, 0
        else:
            self.pending += 1
        self.low = (self.low << 8) & M64

    def finish(self):
        """The stream: low moved to a point of the interval with as many low zero bits as it allows, two shifts,
        and at most TRIM trailing zero bytes dropped."""
        pad = ((1 << 64) - self.low) & M64
        if pad >= self.range:
            pad &= (1 << 56) - 1
        low = (self.low + pad) & M64
        if low < self.low:
            self.carry = 1
        self.low = low
        self._shift()
        self._shift()
        out = bytes(self.out)
        for _ in range(TRIM):
            if out.endswith(b"\0"):
                out = out[:-1]
        self.trimmed = len(self.out) - len(out)  # for tests
        return out


class Decoder:
    """The range decoder; bytes past the end of the stream read as 0, and pos counts them too."""

    def __init__(self, stream):
        self.stream = stream
        self.code_ = int.from_bytes(bytes(stream[:8]).ljust(8, b"\0"), "big")
        self.range, self.pos = M64, 8
        self.clamps = 0  # for tests

    def _byte(self, i):
        return self.stream[i] if i < len(self.stream) else 0

    def code(self, _bit, p):
        split = 65536 - p
        r = self.range >> 16
        if self.code_ >= r * split:
            bit, self.code_, self.range = 1, self.code_ - r * split, r * p
        else:
            bit, self.range = 0, r * split
        if self.code_ >= self.range:  # only in a stream no encoder wrote
            self.code_ = self.range - 1
            self.clamps += 1
        while self.range < 1 << 56:
            self.code_ = ((self.code_ << 8) & M64) | self._byte(self.pos)
            self.range <<= 8
            self.pos += 1
        return bit

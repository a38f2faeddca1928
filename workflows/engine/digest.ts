// A deterministic digest for gate summaries, computable inside the workflow sandbox (no crypto
// module there). It is not a security primitive: approvers are authorized by name. It only proves
// that an approval was given for the summary currently shown (a stale approval does not match).

/** 64-bit FNV-1a over the UTF-16 code units of `text`, as 16 hex characters. */
export function summaryDigest(text: string): string {
  // Two 32-bit lanes with the 64-bit FNV offset basis and prime split across them.
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (let i = 0; i < text.length; i++) {
    lo ^= text.charCodeAt(i);
    // Multiply (hi, lo) by the FNV-64 prime 0x00000100_000001b3.
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x1_0000_0000);
    const newLo = loMul >>> 0;
    const newHi = (Math.imul(hi, 0x1b3) + Math.imul(lo, 0x100) + carry) >>> 0;
    hi = newHi;
    lo = newLo;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

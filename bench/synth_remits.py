"""Synthetic 835 remittance files for the benchmark: any number of service lines in the exact X12 5010 format
(ISA fixed width, `~` terminators, `*` elements, `:` components), a new transaction every few thousand
claims, one interchange per file, claims of one to four lines, paid lines and denials of every category,
claim-level denials and reversals, seeded so that one size always gives the same
bytes. `python -m bench.synth_remits OUT_DIR LINES [FILES]` writes them.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

CODES = ("99213", "99214", "99215", "99212", "99203", "99204", "97110", "97140", "97530", "20610", "36415",
         "80053", "85025", "71046", "93000", "G0439", "J1100", "11055")
MODIFIERS = ("", "", "", "25", "GP", "59", "XU", "RT", "LT", "95")
DENIALS = (("CO", "146", "M76"), ("CO", "16", "M76"), ("CO", "50", ""), ("CO", "97", "M80"), ("CO", "151", "N362"),
           ("CO", "4", ""), ("CO", "197", ""), ("CO", "18", ""), ("CO", "29", ""), ("CO", "150", ""),
           ("CO", "181", "M51"), ("CO", "236", ""), ("PI", "204", ""), ("CO", "94", ""))
PAYERS = ("MEDICARE", "ACME_COMMERCIAL", "BLUEPLAN", "STATE_MEDICAID")
CLAIMS_PER_TRANSACTION = 5_000


def isa(sender: str, control: int, day: str) -> str:
    seg = (f"ISA*00*{'':10}*00*{'':10}*ZZ*{sender:<15}*ZZ*{'SAMPLECLINIC':<15}*{day[2:]}*1200*^*00501*"
           f"{control:09d}*0*P*:~")
    assert len(seg) == 106, len(seg)
    return seg


def write_files(out: Path, lines: int, files: int = 4, seed: int = 835) -> list[Path]:
    """`files` files holding `lines` service lines between them; returns their paths."""
    rng = random.Random(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    per_file = -(-lines // files)
    paths, left, claim_no = [], lines, 0
    for f in range(files):
        target = min(per_file, left)
        left -= target
        payer = PAYERS[f % len(PAYERS)]
        path = out / f"synthetic-{f + 1:02d}.835"
        parts = [isa(payer[:15], 1000 + f, "20251231"), "\n",
                 f"GS*HP*{payer}*SAMPLECLINIC*20251231*1200*{f + 1}*X*005010X221A1~\n"]
        written, st_no = 0, 0
        while written < target:
            st_no += 1
            seg = [f"ST*835*{st_no:04d}~", "BPR*I*0*C*NON************20251231~", f"TRN*1*{f}-{st_no}*1512345678~",
                   "DTM*405*20251231~", f"N1*PR*{payer}~", f"REF*2U*{payer[:8]}~",
                   "N1*PE*SAMPLE CLINIC*XX*1234567893~", "LX*1~"]
            for _ in range(CLAIMS_PER_TRANSACTION):
                if written >= target:
                    break
                claim_no += 1
                n = min(rng.choice((1, 1, 1, 2, 2, 3, 4)), target - written)
                written += n
                day = f"2025{rng.randint(7, 12):02d}{rng.randint(1, 28):02d}"
                npi = rng.choice(("1234567893", "1982736450", "1679576722"))
                reversal = rng.random() < 0.01
                body, billed_total, paid_total = [], 0, 0
                claim_denial = rng.random() < 0.02 and n == 1
                for ln in range(1, n + 1):
                    code = rng.choice(CODES)
                    mod = rng.choice(MODIFIERS)
                    billed = rng.choice((55, 90, 110, 140, 180, 250))
                    comp = f"HC:{code}:{mod}" if mod else f"HC:{code}"
                    if claim_denial:
                        paid = 0
                        body += [f"SVC*{comp}*{billed}*0**1~", f"DTM*472*{day}~", f"REF*6R*{ln}~"]
                    elif rng.random() < 0.12:
                        group, carc, rarc = rng.choice(DENIALS)
                        paid = 0
                        body += [f"SVC*{comp}*{billed}*0**1~", f"DTM*472*{day}~", f"CAS*{group}*{carc}*{billed}~",
                                 f"REF*6R*{ln}~"] + ([f"LQ*HE*{rarc}~"] if rarc else [])
                    else:
                        paid = billed - 40 if billed > 60 else billed - 15
                        body += [f"SVC*{comp}*{billed}*{paid}**1~", f"DTM*472*{day}~",
                                 f"CAS*CO*45*{billed - paid - 5}~", "CAS*PR*2*5~", f"REF*6R*{ln}~"]
                    billed_total += billed
                    paid_total += paid
                status = "4" if paid_total == 0 else "1"
                head = [f"CLP*S{claim_no:08d}*{status}*{billed_total}*{paid_total}**MB*ICN{claim_no:010d}*11*1~"]
                if claim_denial:
                    head.append(f"CAS*CO*146*{billed_total}~")
                head += [f"NM1*QC*1*PATIENT*P{claim_no}****MI*M{claim_no:09d}~", f"NM1*82*1*DOC*D****XX*{npi}~",
                         f"DTM*232*{day}~"]
                seg += head + body
                if reversal and written + n <= target:  # the payment reversed later in the same remittance
                    neg = head[0].replace(f"*{status}*{billed_total}*{paid_total}*",
                                          f"*22*-{billed_total}*-{paid_total}*", 1)
                    seg += [neg, *head[1:], *body]
                    written += n
            seg.append(f"SE*{len(seg) + 1}*{st_no:04d}~")
            parts.append("\n".join(seg))
            parts.append("\n")
        parts.append(f"GE*{st_no}*{f + 1}~\nIEA*1*{1000 + f:09d}~\n")
        path.write_text("".join(parts), encoding="latin-1")
        paths.append(path)
    return paths


if __name__ == "__main__":  # pragma: no cover - a command-line helper
    out = Path(sys.argv[1])
    n = int(sys.argv[2])
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    for p in write_files(out, n, k):
        print(p, p.stat().st_size)

#!/usr/bin/env python3
"""store_check.py MEDIA OUTPUTS [--acked FILE...] [--final]

Checks what mixfs left on disk, as a crash-test oracle: every record
parses and names itself; no record was moved aside as corrupt; every
acknowledged drop (a name whose close() succeeded, one per line in the
--acked files, as SESSION/NAME) has exactly one job; every record has its
index file and every index file its record; every complete job's own mix is
a whole WAV; no temp file is left in the outputs. With --final, every job
must also be final. Prints one line per problem and a summary; exits 1 on
any problem."""
import json
import os
import struct
import sys

STATES = {"queued", "loading_stems", "aligning_stems", "processing_tracks", "mixing",
          "mastering", "exporting", "complete", "error"}


def wav_is_whole(path):
    """A RIFF/WAVE (or RF64) file whose data chunk fits the file."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RF64"):
            return False
        size = os.fstat(f.fileno()).st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, clen = struct.unpack("<4sI", f.read(8))
            if cid == b"data":
                return head[:4] == b"RF64" or pos + 8 + clen <= size
            pos += 8 + clen + (clen & 1)
    return False


def main(argv):
    media, outputs = argv[1], argv[2]
    acked, final, i = [], False, 3
    while i < len(argv):
        if argv[i] == "--final":
            final = True
        elif argv[i] == "--acked":
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                if os.path.exists(argv[i]):
                    acked += [l.strip() for l in open(argv[i]) if l.strip()]
                i += 1
            continue
        i += 1
    problems, by_name, jobs = [], {}, {}
    for sid in sorted(os.listdir(media)):
        jdir = os.path.join(media, sid, "jobs")
        if sid.startswith(".") or sid == "jobs_index" or not os.path.isdir(jdir):
            continue
        for name in os.listdir(jdir):
            path = os.path.join(jdir, name)
            if name.endswith(".corrupt"):
                problems.append("a record was moved aside as corrupt: " + path)
            if not name.endswith(".json") or name.startswith("."):
                continue
            try:
                rec = json.load(open(path))
            except (ValueError, UnicodeDecodeError) as e:
                problems.append("%s does not parse: %s" % (path, e))
                continue
            jid = rec.get("job_id")
            if name != "%s.json" % jid or rec.get("session_id") != sid:
                problems.append("%s names another job or session" % path)
            if rec.get("state") not in STATES:
                problems.append("%s: bad state %r" % (path, rec.get("state")))
            if jid in jobs:
                problems.append("job %s is in two sessions" % jid)
            jobs[jid] = rec
            by_name.setdefault("%s/%s" % (sid, rec.get("request_name")), []).append(jid)
    for a in acked:
        n = len(by_name.get(a, []))
        if n != 1:
            problems.append("acknowledged drop %s has %d jobs" % (a, n))
    for key, ids in by_name.items():
        if len(ids) > 1:
            problems.append("drop %s has %d jobs" % (key, len(ids)))
    index = os.path.join(media, "jobs_index")
    indexed = {n[:-5] for n in os.listdir(index) if n.endswith(".json") and not n.startswith(".")}
    for jid, rec in jobs.items():
        if jid not in indexed:
            problems.append("job %s has no index file" % jid)
        if final and rec["state"] not in ("complete", "error"):
            problems.append("job %s is still %s" % (jid, rec["state"]))
        if rec["state"] == "complete":
            out = os.path.join(outputs, rec["session_id"], "jobs", jid + ".wav")
            if not os.path.exists(out) or not wav_is_whole(out):
                problems.append("complete job %s has no whole mix at %s" % (jid, out))
    for jid in indexed - set(jobs):
        problems.append("index file %s has no record" % jid)
    for root, _dirs, files in os.walk(outputs):
        for f in files:
            if f.startswith(".") and ".tmp." in f:
                problems.append("temp file left in the outputs: " + os.path.join(root, f))
    for p in problems[:20]:
        print("#   " + p)
    states = {}
    for rec in jobs.values():
        states[rec["state"]] = states.get(rec["state"], 0) + 1
    print("# %d records, %d acknowledged drops, %d problems; %s" % (
        len(jobs), len(acked), len(problems),
        ", ".join("%s %d" % kv for kv in sorted(states.items()))))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

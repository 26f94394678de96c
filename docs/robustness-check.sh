#!/usr/bin/env bash
# Bad inputs and faults through the CLI on the embedded default (docs/robustness.md): prints
# each case's exit code, whether a traceback appeared, and the lines that name the failure.
# Runs in a temporary folder on a copy of examples/shop, with the models of ./.env if there is
# one (`qdrant-mm demo-models` writes it), in a collection of its own.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
cp -r "$repo/examples/shop" "$work/"
[ -f .env ] && cp .env "$work/"
cd "$work" || exit 1
export QDRANT_MM_QDRANT_PATH="$work/qdrant_data" QDRANT_MM_COLLECTION=robustness_check
echo "working in $work"
Q="qdrant-mm"
case_() { local name="$1"; shift; out=$("$@" 2>&1); rc=$?; tb=$(echo "$out" | grep -c Traceback); echo "### $name | rc=$rc | traceback=$tb"; echo "$out" | grep -vE "^\s*$" | grep -iE "error|fail|skip|held|refus|interrupt|no results|warning|added|deleted|unchanged|points" | head -6; }
$Q sync shop/catalog.jsonl --json > /dev/null 2>&1; echo "baseline points: $($Q info | grep -o '"points": [0-9]*')"
: > empty.jsonl; echo '[]' > empty.json; echo 'id,title,image' > header.csv
case_ "empty jsonl" $Q sync empty.jsonl
case_ "[] json" $Q sync empty.json
case_ "header-only csv" $Q sync header.csv
echo "points after: $($Q info | grep -o '"points": [0-9]*')"
printf '{"id": "new-1", "title": "x", "image": "missing.png"}\n{"id": "new-2", "title": "y", "image": "missing2.png"}\n' > allfail.jsonl
case_ "all rows fail, new ids" $Q sync allfail.jsonl
head -5 shop/catalog.jsonl > fewer.jsonl; cp -r shop/images .
case_ "would delete all but 5 products" $Q sync fewer.jsonl
echo "points after: $($Q info | grep -o '"points": [0-9]*')"
python - <<'PY'
import json
rows=[json.loads(l) for l in open('shop/catalog.jsonl')]
bad=[]
r=dict(rows[0]); r['weight']=float('nan'); bad.append(json.dumps(r))
r=dict(rows[1]); r['stock']=2**70; bad.append(json.dumps(r))
r=dict(rows[2]); r['price']=True; bad.append(json.dumps(r))
r=dict(rows[3]); bad.append(json.dumps(r)[:-1]+', "deep": '+'['*100000+']'*100000+'}')
lines=[l.encode() for l in bad]
r=dict(rows[4]); r['title']='caf\u00e9'; lines.append(json.dumps(r, ensure_ascii=False).encode('utf-8').replace('\xc3\xa9'.encode('latin1'), b'\xe9'))
r=dict(rows[5]); r['size']=float('inf'); lines.append(json.dumps(r).encode())
lines += [json.dumps(x).encode() for x in rows[6:]]
open('shop/bad.jsonl','wb').write(b'\xef\xbb\xbf' + b'\n'.join(lines) + b'\n')
PY
case_ "NaN, 2**70, price:true, 100k-deep, non-UTF-8, Infinity (with BOM)" $Q sync shop/bad.jsonl --max-delete-fraction 1
case_ "run again" $Q sync shop/bad.jsonl --max-delete-fraction 1
case_ "filter price>=nan" $Q search bag --filter 'price>=nan'
case_ "filter price<inf" $Q search bag --filter 'price<inf'
case_ "weights 1e308,1e308,1e308" $Q search bag --weights 1e308,1e308,1e308 --limit 2
case_ "weights 1,2" $Q search bag --weights 1,2
case_ "unknown filter field" $Q search bag --filter colour=red
case_ "info missing collection" $Q info --collection nope

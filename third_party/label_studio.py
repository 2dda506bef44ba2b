r"""Label Studio as the annotation tool: tasks out, annotations back, by file.

  # The questions a stopped job exported -> tasks to import in Label Studio,
  # with the labeling interface to paste into the project's settings.
  python third_party/label_studio.py tasks WORKDIR/labels/queries.jsonl \
      tasks.json --classes=cat,dog,owl --config=interface.xml
  # Label Studio's JSON export of the project -> an answers file for
  # python -m al_jax.main ... --import_labels=answers.csv
  python third_party/label_studio.py answers export.json answers.csv

Formats follow Label Studio's documented JSON: a task is {"data": {...}};
an exported task adds "annotations": [{"result": [{"from_name", "to_name",
"type": "choices", "value": {"choices": [...]}}], "was_cancelled": bool}].
The latest annotation that was not cancelled wins; a task without one stays
an open question. No server and no `label-studio-sdk` are needed: files go
through the tool's import/export pages (or its API, `tasks` and `export`).

Questions about (image, class) pairs (multi-label pools) become yes/no
tasks that show the class.
"""

import argparse
import csv
import json
from xml.sax import saxutils

FROM_NAME, TO_NAME = 'label', 'image'


def interface(classes, pairs: bool = False) -> str:
  """The labeling interface (XML) that `tasks` fits."""
  choices = ('yes', 'no') if pairs else classes
  header = ('  <Header value="Does the image show: $class ?"/>\n'
            if pairs else '')
  options = ''.join(f'    <Choice value={saxutils.quoteattr(c)}/>\n'
                    for c in choices)
  return (f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n{header}'
          f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" '
          f'choice="single" required="true">\n{options}  </Choices>\n'
          '</View>\n')


def tasks(questions: list[dict], image_root: str = '') -> list[dict]:
  """Exported questions (the rows of queries.jsonl) -> Label Studio tasks.

  image_root: prefix of the image URLs (e.g. '/data/local-files/?d=' for
  Label Studio's local file storage); paths are used as they are without.
  """
  out = []
  for q in questions:
    data = {'image': image_root + q.get('path', ''), 'al_jax_id': q['id'],
            'class': q.get('class', ''), 'score': q.get('score', ''),
            'rank': q.get('rank', '')}
    out.append({'data': data})
  return out


def answers(exported: list[dict]) -> list[dict]:
  """Label Studio's JSON export -> answer rows {id, class, label}; tasks
  without a usable annotation get an empty label (still open)."""
  rows = []
  for task in exported:
    data = task.get('data', {})
    if 'al_jax_id' not in data:
      raise ValueError(f'Task {task.get("id")} has no data.al_jax_id: not a '
                       'task made by `tasks`.')
    label = ''
    done = [a for a in task.get('annotations', [])
            if not a.get('was_cancelled')]
    for result in (done[-1].get('result', []) if done else []):
      if result.get('type') == 'choices' and result.get(
          'from_name') == FROM_NAME:
        label = result['value']['choices'][0]
    rows.append({'id': data['al_jax_id'], 'class': data.get('class', ''),
                 'label': label})
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  sub = parser.add_subparsers(dest='command', required=True)
  t = sub.add_parser('tasks')
  t.add_argument('queries')
  t.add_argument('out')
  t.add_argument('--classes', required=True, help='comma-separated names')
  t.add_argument('--config', help='also write the labeling interface here')
  t.add_argument('--image_root', default='')
  a = sub.add_parser('answers')
  a.add_argument('export')
  a.add_argument('out')
  args = parser.parse_args(argv)
  if args.command == 'tasks':
    with open(args.queries) as f:
      questions = [json.loads(line) for line in f if line.strip()]
    with open(args.out, 'w') as f:
      json.dump(tasks(questions, args.image_root), f, indent=1)
    if args.config:
      pairs = any(q.get('class') for q in questions)
      with open(args.config, 'w') as f:
        f.write(interface(args.classes.split(','), pairs))
    return
  with open(args.export) as f:
    rows = answers(json.load(f))
  with open(args.out, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=['id', 'class', 'label'])
    writer.writeheader()
    writer.writerows(rows)


if __name__ == '__main__':
  main()

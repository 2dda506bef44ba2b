"""Label Studio adapter: exported questions -> tasks -> (a person labels in
the tool) -> its JSON export -> answers the work dir's book imports."""

import json
import xml.etree.ElementTree as ET

import numpy as np

from al_jax.labeling import book as book_lib
from test_labeling import CLASSES, _pool
from third_party import label_studio


def _labelled_in_the_tool(tasks):
  """What Label Studio's JSON export holds after a person's work: task 0
  answered 'dog', task 1 answered then the answer cancelled and redone as
  'owl', task 2 skipped."""
  given = [[('dog', False)], [('cat', True), ('owl', False)], []]
  return [{'id': 100 + i, 'data': task['data'], 'annotations': [
      {'result': [{'from_name': 'label', 'to_name': 'image',
                   'type': 'choices', 'value': {'choices': [choice]}}],
       'was_cancelled': cancelled} for choice, cancelled in answers]}
          for i, (task, answers) in enumerate(zip(tasks, given))]


def test_round_trip_through_label_studio_files(tmp_path):
  book = book_lib.Book(str(tmp_path), _pool(), CLASSES, pairs=False)
  book.ask(np.array([5, 6, 7]), np.array([0.5, 0.6, 0.7]), 'margin/seed_0',
           1)
  queries = book.export()[0].replace('.csv', '.jsonl')
  label_studio.main(['tasks', queries, str(tmp_path / 'tasks.json'),
                     '--classes=' + ','.join(CLASSES),
                     f'--config={tmp_path / "ui.xml"}',
                     '--image_root=/data/local-files/?d='])
  with open(tmp_path / 'tasks.json') as f:
    tasks = json.load(f)
  assert tasks[0]['data']['image'] == '/data/local-files/?d=/img/a5.png'
  assert tasks[0]['data']['al_jax_id'] == 'a5'
  ui = ET.parse(tmp_path / 'ui.xml').getroot()
  assert [c.get('value') for c in ui.iter('Choice')] == list(CLASSES)
  assert ui.find('Choices').get('toName') == ui.find('Image').get('name')

  with open(tmp_path / 'export.json', 'w') as f:
    json.dump(_labelled_in_the_tool(tasks), f)
  label_studio.main(['answers', str(tmp_path / 'export.json'),
                     str(tmp_path / 'answers.csv')])
  report = book.import_file(str(tmp_path / 'answers.csv'))
  assert "1 questions still open, e.g. ['a7']" in report
  labels, missing = book.answers_for(np.array([5, 6, 7]))
  np.testing.assert_array_equal(labels[:2], [1, 2])
  assert missing.tolist() == [False, False, True]


def test_pair_questions_become_yes_no_tasks(tmp_path):
  rows = [{'id': 'im0', 'class': 'owl', 'path': 'p.jpg'}]
  xml = label_studio.interface(CLASSES, pairs=True)
  assert '$class' in xml and 'value="yes"' in xml
  task = label_studio.tasks(rows)[0]
  export = [{'data': task['data'], 'annotations': [{'result': [
      {'from_name': 'label', 'type': 'choices',
       'value': {'choices': ['yes']}}]}]}]
  assert label_studio.answers(export) == [{'id': 'im0', 'class': 'owl',
                                           'label': 'yes'}]

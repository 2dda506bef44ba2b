"""People as the oracle: answer files, the work dir's book, stable IDs, the
pool fingerprint, and pools without labels (npz, manifest, image folder)."""

import dataclasses
import json
import os

import numpy as np
import pytest

from al_jax.input import ledger as ledger_lib
from al_jax.input import sources
from al_jax.input.pool_id import PoolId
from al_jax.labeling import book as book_lib
from al_jax.labeling import oracle as oracle_lib

CLASSES = ('cat', 'dog', 'owl')


def _pool(n=10, prefix='a'):
  return PoolId(np.array([f'{prefix}{i}' for i in range(n)]),
                np.array([f'/img/{prefix}{i}.png' for i in range(n)]), 'toy')


def _write(path, text):
  with open(path, 'w') as f:
    f.write(text)
  return str(path)


@pytest.fixture
def book(tmp_path):
  b = book_lib.Book(str(tmp_path), _pool(), CLASSES, pairs=False)
  b.ask(np.array([1, 2, 3]), np.array([0.1, 0.2, 0.3]), 'margin/seed_0', 1)
  return b


def test_questions_are_exported_with_ids_paths_scores_and_ranks(book):
  path, n = book.export()
  assert n == 3
  with open(path) as f:
    lines = f.read().splitlines()
  assert lines[0] == 'id,class,label,path,score,rank,round,run'
  assert lines[1] == 'a1,,,/img/a1.png,0.1,0,1,margin/seed_0'
  with open(path.replace('.csv', '.jsonl')) as f:
    assert [json.loads(l)['id'] for l in f] == ['a1', 'a2', 'a3']
  # Asked again (another run, same items): not a new question.
  book.ask(np.array([3, 2]), None, 'random/seed_0', 1)
  assert book.export()[1] == 3


def test_bad_answers_are_refused_by_line_and_nothing_is_merged(book, tmp_path):
  answers = _write(tmp_path / 'a.csv', 'id,label\na1,cat\nzz,dog\na2,horse\n'
                   'a5,dog\na1,dog\n,cat\n')
  with pytest.raises(ValueError) as e:
    book.import_file(answers)
  text = str(e.value)
  for want in ("line 3: unknown ID 'zz'", "line 4: label 'horse'",
               "line 5: 'a5' was never asked",
               "line 6: 'a1' answered again (first on line 2)",
               'line 7: no id', 'nothing was merged'):
    assert want in text
  assert not os.path.exists(tmp_path / 'labels' / 'answers.jsonl')
  assert book.answers_for(np.array([1]))[1].all()


def test_partial_answers_are_kept_and_the_open_ones_listed(book, tmp_path):
  answers = _write(tmp_path / 'a.csv', 'id,label,path\na1,cat,x\na2,,x\n'
                   'a3,2,x\n')
  report = book.import_file(answers)
  assert 'merged 2 new answers; 1 questions still open' in report
  assert "['a2']" in report
  labels, missing = book.answers_for(np.array([1, 2, 3]))
  np.testing.assert_array_equal(labels, [0, -1, 2])
  np.testing.assert_array_equal(missing, [False, True, False])
  # The same file again: nothing new, not an error; a changed answer is.
  assert 'merged 0 new answers' in book.import_file(answers)
  with pytest.raises(ValueError, match="line 1: 'a1' was answered 0 before, "
                     'now 1'):
    book.import_file(_write(tmp_path / 'b.jsonl',
                            '{"id": "a1", "label": "dog"}\n'))
  # Answers survive a new process (the book is re-read from the work dir).
  again = book_lib.Book(str(tmp_path), _pool(), CLASSES, pairs=False)
  np.testing.assert_array_equal(again.answers_for(np.array([3]))[0], [2])


def test_multi_label_answers_are_per_image_and_class(tmp_path):
  pool = PoolId(np.array(['im0/0', 'im0/2', 'im1/1']), None, 'toy')
  b = book_lib.Book(str(tmp_path), pool, CLASSES, pairs=True)
  b.ask(np.array([0, 1, 2]), None, 'margin/seed_0', 0)
  b.ask(np.array([1, 0]), None, 'random/seed_0', 1)  # The same pairs again.
  assert b.export()[1] == 3
  with open(b.export()[0]) as f:
    assert f.read().splitlines()[1].startswith('im0,cat,,')
  b.import_file(_write(tmp_path / 'a.csv', 'id,class,label\nim0,cat,yes\n'
                       'im0,2,0\nim1,dog,1\n'))
  np.testing.assert_array_equal(b.answers_for(np.arange(3))[0], [1, 0, 1])
  with pytest.raises(ValueError, match="line 2: class 'fox'"):
    b.import_file(_write(tmp_path / 'b.csv', 'id,class,label\nim0,fox,1\n'))


def test_people_oracle_asks_then_reveals(book):
  oracle = oracle_lib.PeopleOracle(book, 'kcenter/seed_1')
  with pytest.raises(oracle_lib.LabelsNeeded):
    oracle.reveal(np.array([4, 5]), 2)
  assert [q['item'] for q in book.open_questions()] == ['a1', 'a2', 'a3',
                                                        'a4', 'a5']


def test_dataset_oracle_names_the_missing_labels():
  oracle = oracle_lib.DatasetOracle(np.array([0, -1, 2, -1]), _pool(4))
  np.testing.assert_array_equal(oracle.reveal(np.array([2, 0])), [2, 0])
  with pytest.raises(ValueError, match=r"no label for 2 of the 3 .*'a1', "
                     r"'a3'.*--oracle=export"):
    oracle.reveal(np.array([1, 2, 3]))


def test_ledger_keeps_ids_and_refuses_another_pool(tmp_path):
  path = str(tmp_path / 'ledger.npz')
  led = ledger_lib.Ledger.empty(pool=_pool()).add(0, np.array([4, 7]),
                                                  np.array([1, 2]))
  led.save(path)
  back = ledger_lib.Ledger.load(path, _pool())
  np.testing.assert_array_equal(back.ids, ['a4', 'a7'])
  renamed = _pool()
  renamed.ids[7] = 'b7'
  with pytest.raises(ValueError, match=r"example IDs.*position 7 was 'a7', "
                     r"now 'b7'"):
    ledger_lib.Ledger.load(path, renamed)
  with pytest.raises(ValueError, match='items: 10 -> 9'):
    ledger_lib.Ledger.load(path, _pool(9))
  with pytest.raises(ValueError, match="source: 'toy' -> 'other'"):
    ledger_lib.Ledger.load(path, dataclasses.replace(_pool(), source='other'))


def _digits_npz(path, labeled=True):
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  d = datasets.load_digits()
  x = np.round(d.images * (255 / 16)).astype(np.uint8)[..., None]
  y = d.target.astype(np.int32)
  np.savez(path, x_train=x[:1500], y_train=y[:1500] if labeled else
           np.full(1500, -1, np.int32), x_test=x[1500:], y_test=y[1500:],
           num_classes=10, ids_train=np.array([f'd{i:04d}' for i in
                                               range(1500)]))
  return str(path)


def test_npz_pool_without_labels_keeps_its_ids_through_the_split(tmp_path):
  x = np.arange(40, dtype=np.float32).reshape(20, 2)
  np.savez(tmp_path / 'p.npz', x_train=x, y_train=np.full(20, -1),
           ids_train=np.array([f'row{i}' for i in range(20)]),
           class_names=np.array(['a', 'b']))
  ds = sources.load({'source': f'npz:{tmp_path / "p.npz"}',
                     'test_fraction': 0.25, 'max_train_examples': 10})
  assert ds.num_classes == 2 and ds.class_names == ('a', 'b')
  assert (ds.y_train == -1).all() and len(ds.x_train) == 10
  rows = [int(i[3:]) for i in ds.train_ids]
  np.testing.assert_array_equal(ds.x_train, x[rows])
  np.savez(tmp_path / 'q.npz', x_train=x, y_train=np.full(20, -1))
  with pytest.raises(KeyError, match='give num_classes'):
    sources.load({'source': f'npz:{tmp_path / "q.npz"}'})


def test_manifest_of_features_with_partial_labels_and_a_test_split(tmp_path):
  path = _write(tmp_path / 'm.csv', 'id,f0,f1,label,split\nu1,0,1,,train\n'
                'u2,1,0,b,train\nu3,2,2,a,test\nu4,3,1,,train\n')
  ds = sources.load({'source': f'manifest:{path}'})
  assert ds.class_names == ('a', 'b')
  np.testing.assert_array_equal(ds.train_ids, ['u1', 'u2', 'u4'])
  np.testing.assert_array_equal(ds.y_train, [-1, 1, -1])
  np.testing.assert_array_equal(ds.x_test, [[2, 2]])
  bad = _write(tmp_path / 'bad.csv', 'id,f0,label\nu1,0,zebra\n')
  with pytest.raises(ValueError, match="line 2: label 'zebra'"):
    sources.load({'source': f'manifest:{bad}', 'class_names': ('a', 'b')})


def test_image_folder_labels_from_class_subfolders(tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  for rel in ('cat/1.png', 'dog/2.png', 'unlabeled/3.png', '4.png',
              'cat/5.png'):
    os.makedirs(os.path.dirname(tmp_path / 'imgs' / rel), exist_ok=True)
    Image.new('RGB', (12, 9), (len(rel) * 20, 0, 0)).save(
        tmp_path / 'imgs' / rel)
  ds = sources.load({'source': f'folder:{tmp_path / "imgs"}',
                     'test_fraction': 0.0, 'image_size': 8})
  assert ds.class_names == ('cat', 'dog') and ds.x_train.shape[1:] == (8, 8, 3)
  label = dict(zip(ds.train_ids, ds.y_train))
  assert label == {'cat/1.png': 0, 'dog/2.png': 1, 'unlabeled/3.png': -1,
                   '4.png': -1, 'cat/5.png': 0}
  assert all(p.endswith(i) for p, i in zip(ds.paths_train, ds.train_ids))


def test_resume_refuses_a_pool_whose_ids_changed(tmp_path):
  from al_jax.loops import active  # pylint: disable=g-import-not-at-top
  from conftest import load_config  # pylint: disable=g-import-not-at-top
  npz = _digits_npz(tmp_path / 'p.npz')
  cfg = load_config('digits')
  cfg.input.source = f'npz:{npz}'
  cfg.al.strategies, cfg.al.rounds, cfg.train.epochs = ('random',), 0, 1
  active.run(cfg, str(tmp_path / 'w'))
  with np.load(npz) as z:
    arrays = dict(z)
  arrays['ids_train'] = arrays['ids_train'][::-1]  # Same file name and size.
  np.savez(npz, **arrays)
  with pytest.raises(ValueError, match=r'ledger.npz indexes another pool .*'
                     r'the example IDs.*bought items moved') as e:
    active.run(cfg, str(tmp_path / 'w'))
  assert 'unreadable' not in str(e.value)


def test_multi_label_candidate_pairs_without_labels_are_asked():
  from al_jax.loops.pool import Pool  # pylint: disable=g-import-not-at-top
  y = np.array([[-2, -1, 1], [0, -2, -1]], np.int8)  # -2: ask a person.
  ds = sources.Dataset(np.zeros((2, 3), np.float32), y,
                       np.zeros((1, 3), np.float32),
                       np.array([[1, -1, -2]], np.int8), num_classes=3,
                       name='toy', multilabel=True, ids_train=np.array(
                           ['im0', 'im1']))
  sources.check_finite(ds)
  pool = Pool.of(ds)
  pool_id = PoolId.of(ds, pool.pairs)
  np.testing.assert_array_equal(pool_id.ids, ['im0/0', 'im0/2', 'im1/0',
                                              'im1/1'])
  oracle = oracle_lib.DatasetOracle(pool.hidden, pool_id)
  np.testing.assert_array_equal(oracle.reveal(np.array([1, 2])), [1, 0])
  with pytest.raises(ValueError, match=r"'im0/0', 'im1/1'.*--oracle=export"):
    oracle.reveal(np.array([0, 3]))
  # Only the annotated test pair is scored.
  logits = np.array([[5., 0., -5.]])
  def predict(x, pairs):
    del x
    return logits[pairs.image, pairs.cls], None
  assert pool.evaluate(predict, ds.x_test, ds.y_test) == 1.0

"""Result files: round trips, malformed input, resumability and server zips."""

import zipfile

import numpy as np
import pytest

from trackjax.sot import result_files as rf


def _boxes(n, offset=0.0):
  x = np.arange(n) + offset
  return np.stack([x, np.arange(n) * 2.0, np.full(n, 10.5), np.full(n, 20.25)], 1)


@pytest.mark.parametrize('delimiter', [',', '\t', ' '])
def test_plain_round_trip(tmp_path, delimiter):
  boxes = _boxes(5)
  boxes[3] = np.nan
  times = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
  path = rf.write_sequence_result(tmp_path, 'seq1', boxes, times, delimiter=delimiter)
  assert path == tmp_path / 'seq1.txt'
  assert delimiter in path.read_text().splitlines()[0]
  res = rf.read_results(tmp_path)
  assert res.layout == 'plain' and list(res.boxes) == ['seq1']
  np.testing.assert_allclose(res.boxes['seq1'][0], boxes, equal_nan=True)
  np.testing.assert_allclose(res.times['seq1'], times)
  assert not list(tmp_path.glob('*.tmp'))


def test_got10k_layout_with_repetitions(tmp_path):
  for rep in (1, 2, 3):
    rf.write_sequence_result(tmp_path, 'GOT-10k_Val_000001', _boxes(4, rep), [0.01 * rep] * 4,
                             layout='got10k', repetition=rep)
  seq_dir = tmp_path / 'GOT-10k_Val_000001'
  assert sorted(p.name for p in seq_dir.iterdir()) == [
      'GOT-10k_Val_000001_001.txt', 'GOT-10k_Val_000001_002.txt', 'GOT-10k_Val_000001_003.txt',
      'GOT-10k_Val_000001_time.txt']
  assert rf.detect_layout(tmp_path) == 'got10k'
  res = rf.read_results(tmp_path)
  assert len(res.boxes['GOT-10k_Val_000001']) == 3
  np.testing.assert_allclose(res.boxes['GOT-10k_Val_000001'][2], _boxes(4, 3))
  np.testing.assert_allclose(res.times['GOT-10k_Val_000001'][0], [0.01, 0.02, 0.03])


@pytest.mark.parametrize('content,message', [
    ('1,2,3,4\n1,2,x,4\n', r'bad\.txt:2: not a number'),
    ('1,2,3,4\n1,2,3\n', r'bad\.txt:2: expected 4 fields, got 3'),
    ('1,2,3,4\n\n1,2,3,4\n', r'bad\.txt:2: blank line'),
])
def test_malformed_file_names_file_and_line(tmp_path, content, message):
  (tmp_path / 'bad.txt').write_text(content)
  with pytest.raises(rf.ResultsFormatError, match=message):
    rf.read_boxes(tmp_path / 'bad.txt')


def test_missing_sequence_raises(tmp_path):
  rf.write_sequence_result(tmp_path, 'a', _boxes(2))
  with pytest.raises(rf.ResultsFormatError, match="'b'"):
    rf.read_results(tmp_path, sequences=['a', 'b'])


def test_complete_sequences_detects_truncated_files(tmp_path):
  rf.write_sequence_result(tmp_path, 'done', _boxes(5))
  rf.write_sequence_result(tmp_path, 'short', _boxes(5))
  text = (tmp_path / 'short.txt').read_text()
  (tmp_path / 'short.txt').write_text(text[:len(text) // 2])  # Cut mid-line.
  rf.write_sequence_result(tmp_path, 'bad', _boxes(5))
  (tmp_path / 'bad.txt').write_text('garbage\n')
  lengths = {'done': 5, 'short': 5, 'bad': 5, 'absent': 5}
  assert rf.complete_sequences(tmp_path, lengths) == {'done'}
  assert rf.complete_sequences(tmp_path, lengths, require_times=True) == set()


def test_complete_sequences_got10k_needs_repetitions_and_times(tmp_path):
  rf.write_sequence_result(tmp_path, 's1', _boxes(3), [0.1] * 3, layout='got10k')
  rf.write_sequence_result(tmp_path, 's2', _boxes(3), None, layout='got10k')
  lengths = {'s1': 3, 's2': 3}
  assert rf.complete_sequences(tmp_path, lengths, layout='got10k') == {'s1'}
  assert rf.complete_sequences(tmp_path, lengths, layout='got10k', repetitions=3) == set()


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
  def boom(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(rf.os, 'replace', boom)
  with pytest.raises(KeyboardInterrupt):
    rf.write_sequence_result(tmp_path, 'seq', _boxes(3))
  assert list(tmp_path.iterdir()) == []


def test_got10k_zip_layout(tmp_path):
  res = tmp_path / 'res'
  for seq in ('GOT-10k_Test_000002', 'GOT-10k_Test_000001'):
    rf.write_sequence_result(res, seq, _boxes(3), [0.02] * 3, layout='got10k')
  zip_path = rf.write_got10k_zip(res, tmp_path / 'out' / 'tracker.zip')
  with zipfile.ZipFile(zip_path) as z:
    names = z.namelist()
    assert names == ['GOT-10k_Test_000001/GOT-10k_Test_000001_001.txt',
                     'GOT-10k_Test_000001/GOT-10k_Test_000001_time.txt',
                     'GOT-10k_Test_000002/GOT-10k_Test_000002_001.txt',
                     'GOT-10k_Test_000002/GOT-10k_Test_000002_time.txt']
    first = z.read(names[0]).decode().splitlines()[0]
  assert first == '0.000,0.000,10.500,20.250'
  again = rf.write_got10k_zip(res, tmp_path / 'again.zip')
  assert again.read_bytes() == zip_path.read_bytes()  # Deterministic.
  with pytest.raises(rf.ResultsFormatError, match='GOT-10k_Test_000003'):
    rf.write_got10k_zip(res, tmp_path / 'x.zip', expected_sequences=[
        'GOT-10k_Test_000001', 'GOT-10k_Test_000003'])


def test_trackingnet_zip_layout(tmp_path):
  res = tmp_path / 'res'
  rf.write_sequence_result(res, 'seqB', _boxes(2), [0.1, 0.1], delimiter='\t')
  rf.write_sequence_result(res, 'seqA', _boxes(2))
  zip_path = rf.write_trackingnet_zip(res, tmp_path / 'tn.zip')
  with zipfile.ZipFile(zip_path) as z:
    assert z.namelist() == ['seqA.txt', 'seqB.txt']
    assert z.read('seqB.txt').decode() == '0.00,0.00,10.50,20.25\n1.00,2.00,10.50,20.25\n'

"""MOTChallenge result files round-trip; trackjax's HOTA / IDF1 / MOTA equal TrackEval's metric
classes run directly on the same files, and hand cases (perfect tracker, swapped ids) score as
expected."""

import numpy as np
import pytest
import trackeval  # the 'mot' extra (installed by README's test command)

from data_pipelines.sources.base import DatasetError
from trackjax.mot import metrics
from trackjax.mot import result_files as rf
from trackjax.mot.association import MotTracks

NUM_FRAMES = 20


def two_walkers(num_frames=NUM_FRAMES):
  """gt rows of two targets walking right and left on separate rows (never overlapping)."""
  rows = []
  for t in range(1, num_frames + 1):
    rows.append([t, 1, 10 + 6 * t, 40, 20, 50, 1, 1, 1.0])
    rows.append([t, 2, 130 - 6 * t, 140, 20, 50, 1, 1, 1.0])
  return np.asarray(rows, np.float64)


def write_gt(path, rows):
  path.parent.mkdir(parents=True, exist_ok=True)
  lines = [f'{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},1,1,{r[8]:.2f}'
           for r in rows]
  path.write_text('\n'.join(lines) + '\n')
  return str(path)


def tracks_from_rows(rows, id_map=lambda frame, track_id: track_id, jitter=0.0, seed=0):
  rng = np.random.default_rng(seed)
  frames = []
  for t in sorted(set(rows[:, 0].astype(int))):
    r = rows[rows[:, 0] == t]
    ids = np.array([id_map(t, int(i)) for i in r[:, 1]])
    boxes = r[:, 2:6] + rng.normal(0, jitter, (len(r), 4)) * [1, 1, 0, 0]
    frames.append((t, MotTracks(ids, boxes, np.full(len(r), 0.9))))
  return frames


def test_result_files_round_trip(tmp_path):
  first = MotTracks(np.array([3, 7]), np.array([[1.25, 2.5, 10.0, 20.0], [5.0, 6.0, 7.5, 8.25]]),
                    np.array([0.9, 0.5]))
  frames = [(1, first),
            (2, MotTracks.empty()),
            (3, MotTracks(np.array([7]), np.array([[5.5, 6.0, 7.5, 8.25]]), np.array([0.61])))]
  path = rf.write_sequence_results(tmp_path / 'tracker', 'SEQ-01', frames)
  assert path == tmp_path / 'tracker' / 'data' / 'SEQ-01.txt'
  assert path.read_text().splitlines()[0] == '1,3,1.25,2.50,10.00,20.00,0.90,-1,-1,-1'
  back = rf.read_sequence_results(path, num_frames=3)
  np.testing.assert_array_equal(back.frames, [1, 1, 3])
  np.testing.assert_array_equal(back.ids, [3, 7, 7])
  np.testing.assert_allclose(back.boxes_xywh, [[1.25, 2.5, 10, 20], [5, 6, 7.5, 8.25],
                                               [5.5, 6, 7.5, 8.25]])
  np.testing.assert_allclose(back.scores, [0.9, 0.5, 0.61])
  assert rf.completed_sequences(tmp_path / 'tracker', ['SEQ-01', 'SEQ-02']) == ['SEQ-01']
  assert not list((tmp_path / 'tracker' / 'data').glob('.*partial'))
  path.write_text(path.read_text() + '4,1,2,3\n')
  with pytest.raises(DatasetError, match=r'SEQ-01.txt:4: '):
    rf.read_sequence_results(path, num_frames=3)


def _direct_trackeval(gt_file, tracker_file, num_frames):
  """TrackEval's metric classes on the dataset class's own data for one sequence."""
  import pathlib
  import shutil
  import tempfile
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    (root / 'gt' / 'S' / 'gt').mkdir(parents=True)
    shutil.copyfile(gt_file, root / 'gt' / 'S' / 'gt' / 'gt.txt')
    (root / 'tr' / 'T' / 'data').mkdir(parents=True)
    shutil.copyfile(tracker_file, root / 'tr' / 'T' / 'data' / 'S.txt')
    dataset = trackeval.datasets.MotChallenge2DBox({
        'GT_FOLDER': str(root / 'gt'), 'TRACKERS_FOLDER': str(root / 'tr'),
        'SKIP_SPLIT_FOL': True, 'SEQ_INFO': {'S': num_frames}, 'PRINT_CONFIG': False})
    raw = dataset.get_raw_seq_data('T', 'S')
    data = dataset.get_preprocessed_seq_data(raw, 'pedestrian')
  hota = trackeval.metrics.HOTA().eval_sequence(data)
  clear = trackeval.metrics.CLEAR({'PRINT_CONFIG': False}).eval_sequence(data)
  identity = trackeval.metrics.Identity({'PRINT_CONFIG': False}).eval_sequence(data)
  return {'HOTA': float(np.mean(hota['HOTA'])), 'AssA': float(np.mean(hota['AssA'])),
          'DetA': float(np.mean(hota['DetA'])), 'MOTA': float(clear['MOTA']),
          'IDSW': int(clear['IDSW']), 'IDF1': float(identity['IDF1'])}


@pytest.mark.parametrize('case', ['perfect', 'swapped', 'noisy'])
def test_scores_equal_trackeval_and_hand_values(tmp_path, case):
  rows = two_walkers()
  gt_file = write_gt(tmp_path / 'gt' / 'S' / 'gt' / 'gt.txt', rows)
  if case == 'perfect':
    frames = tracks_from_rows(rows)
  elif case == 'swapped':  # ids exchanged from frame 11 on: one switch per target
    frames = tracks_from_rows(rows, lambda t, i: 3 - i if t > 10 else i)
  else:
    frames = tracks_from_rows(rows[rows[:, 0] != 5], jitter=2.0)  # a missed frame, jitter
  result = rf.write_sequence_results(tmp_path / 'tracker', 'S', frames)
  scores = metrics.score_files({'S': (gt_file, NUM_FRAMES)}, {'S': str(result)})
  ours = scores.per_sequence['S']
  direct = _direct_trackeval(gt_file, str(result), NUM_FRAMES)
  for key, value in direct.items():
    assert ours[key] == pytest.approx(value, abs=1e-12), key
    assert scores.combined[key] == pytest.approx(value, abs=1e-12), key
  assert len(scores.hota_alpha['S']) == 19
  if case == 'perfect':
    assert ours['HOTA'] == 1.0 and ours['IDF1'] == 1.0 and ours['MOTA'] == 1.0
    assert ours['IDSW'] == 0
  elif case == 'swapped':
    assert ours['IDSW'] == 2 and ours['DetA'] == pytest.approx(1.0)
    assert ours['MOTA'] == pytest.approx(1 - 2 / 40)
    assert ours['IDF1'] == pytest.approx(0.5)  # each id follows one target for half the frames
    # each true match: TPA 10 of TPA + FNA + FPA = 30; HOTA = sqrt(DetA * AssA)
    assert ours['AssA'] == pytest.approx(1 / 3) and ours['HOTA'] == pytest.approx(np.sqrt(1 / 3))
  else:
    assert ours['MOTA'] == pytest.approx(38 / 40) and 0.5 < ours['HOTA'] < 1


def test_combined_over_two_sequences_and_missing_result(tmp_path):
  rows = two_walkers()
  gts, results = {}, {}
  for name, frames in (('A', tracks_from_rows(rows)),
                       ('B', tracks_from_rows(rows, lambda t, i: 3 - i if t > 10 else i))):
    gts[name] = (write_gt(tmp_path / name / 'gt.txt', rows), NUM_FRAMES)
    results[name] = str(rf.write_sequence_results(tmp_path / 'tracker', name, frames))
  scores = metrics.score_files(gts, results)
  assert scores.combined['IDSW'] == 2 and scores.combined['MOTA'] == pytest.approx(1 - 2 / 80)
  per_sequence = scores.per_sequence
  assert per_sequence['A']['HOTA'] > scores.combined['HOTA'] > per_sequence['B']['HOTA']
  with pytest.raises(FileNotFoundError, match='sequence'):
    metrics.score_files(gts, {'A': results['A']})
  empty = rf.write_sequence_results(tmp_path / 'empty', 'A', [])
  assert metrics.score_files({'A': gts['A']}, {'A': str(empty)}).combined['HOTA'] == 0.0

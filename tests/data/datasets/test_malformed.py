"""A malformed file of each kind is one line naming file, row and column.

Kinds: a wrong header, a bad RLE, a box outside the image, a label name
that is not in the dataset's list. The tables are written here, small,
in each dataset's format with one fault; the row is counted from 1 after
the header.
"""

import re

import pytest

from keras_clinclip.data.datasets import LOADERS
from keras_clinclip.data.datasets import chexpert_5x200
from keras_clinclip.data.datasets.ms_cxr import COLUMNS as MS_CXR_COLUMNS
from keras_clinclip.data.datasets.ms_cxr import TABLE as MS_CXR_TABLE
from keras_clinclip.data.datasets.vindr import CLASS_NAMES as VINDR_NAMES

pytestmark = pytest.mark.backend_independent

RSNA = "patientId,x,y,width,height,Target\n"
SIIM = "ImageId, EncodedPixels\n"
CXR14 = "Image Index,Finding Labels,Follow-up #,Patient ID\n"
BBOX = "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
MS_CXR = ",".join(MS_CXR_COLUMNS) + "\n"
MS_ROW = "d1,Edema,edema,files/p10/p10000001/s1/d1.jpg,{box},100,200,{split}\n"
FIVE = "Path,Atelectasis,Cardiomegaly,Consolidation,Edema,Pleural Effusion\n"


def _vindr_labels(names):
    head = "image_id,rad_id," + ",".join(names) + "\n"
    return head + "i1,R1," + ",".join("0" for _ in names) + "\n"


def _vindr_boxes(row):
    return "image_id,rad_id,class_name,x_min,y_min,x_max,y_max\n" + row


# name: ({file: text}, loader name, options, file, row, column)
CASES = {
    "rsna header": (
        {"stage_2_train_labels.csv": RSNA.replace("Target", "Label")},
        "rsna",
        {},
        "stage_2_train_labels.csv",
        "header row",
        "Target",
    ),
    "rsna box outside": (
        {"stage_2_train_labels.csv": RSNA + "a,,,,,0\nb,1000,10,50,50,1\n"},
        "rsna",
        {},
        "stage_2_train_labels.csv",
        "row 2",
        "x",
    ),
    "rsna target": (
        {"stage_2_train_labels.csv": RSNA + "a,,,,,2\n"},
        "rsna",
        {},
        "stage_2_train_labels.csv",
        "row 1",
        "Target",
    ),
    "rsna unknown class": (
        {
            "stage_2_train_labels.csv": RSNA + "a,,,,,0\n",
            "stage_2_detailed_class_info.csv": "patientId,class\na,Opacity\n",
        },
        "rsna",
        {},
        "stage_2_detailed_class_info.csv",
        "row 1",
        "class",
    ),
    "siim header": (
        {"train-rle.csv": "ImageId,Pixels\na,-1\n"},
        "siim",
        {},
        "train-rle.csv",
        "header row",
        "EncodedPixels",
    ),
    "siim rle not integers": (
        {"train-rle.csv": SIIM + "a, -1\nb, 12 x4\n"},
        "siim",
        {},
        "train-rle.csv",
        "row 2",
        "EncodedPixels",
    ),
    "siim rle odd": (
        {"train-rle.csv": SIIM + "a, 12 4 7\n"},
        "siim",
        {},
        "train-rle.csv",
        "row 1",
        "EncodedPixels",
    ),
    "siim rle absolute": (
        {"train-rle.csv": SIIM + "a,-1\na,-1\nb, 600000 2 600000 2\n"},
        "siim",
        {},
        "train-rle.csv",
        "row 3",
        "EncodedPixels",
    ),
    "chestxray14 header": (
        {"Data_Entry_2017.csv": "Image Index,Labels,Patient ID\n"},
        "chestxray14",
        {"rule": None},
        "Data_Entry_2017.csv",
        "header row",
        "Finding Labels",
    ),
    "chestxray14 unknown label": (
        {
            "Data_Entry_2017.csv": CXR14
            + "a.png,Edema,0,1\nb.png,Infiltrate,0,2\n"
        },
        "chestxray14",
        {"rule": None},
        "Data_Entry_2017.csv",
        "row 2",
        "Finding Labels",
    ),
    "chestxray14 box outside": (
        {
            "Data_Entry_2017.csv": CXR14 + "a.png,Edema,0,1\n",
            "BBox_List_2017.csv": BBOX + "a.png,Mass,1000,10,100,20\n",
        },
        "chestxray14",
        {"rule": None},
        "BBox_List_2017.csv",
        "row 1",
        "Bbox [x",
    ),
    "chestxray14 unknown box label": (
        {
            "Data_Entry_2017.csv": CXR14 + "a.png,Edema,0,1\n",
            "BBox_List_2017.csv": BBOX + "a.png,Edema,10,10,100,20\n",
        },
        "chestxray14",
        {"rule": None},
        "BBox_List_2017.csv",
        "row 1",
        "Finding Label",
    ),
    "ms-cxr header": (
        {MS_CXR_TABLE: MS_CXR.replace("label_text", "text")},
        "ms-cxr",
        {},
        MS_CXR_TABLE,
        "header row",
        "label_text",
    ),
    "ms-cxr box outside": (
        {MS_CXR_TABLE: MS_CXR + MS_ROW.format(box="90,20,30,40", split="test")},
        "ms-cxr",
        {},
        MS_CXR_TABLE,
        "row 1",
        "x",
    ),
    "ms-cxr unknown category": (
        {
            MS_CXR_TABLE: MS_CXR
            + MS_ROW.format(box="9,20,30,40", split="test").replace(
                "Edema,", "Effusion,"
            )
        },
        "ms-cxr",
        {},
        MS_CXR_TABLE,
        "row 1",
        "category_name",
    ),
    "ms-cxr split": (
        {MS_CXR_TABLE: MS_CXR + MS_ROW.format(box="9,20,30,40", split="dev")},
        "ms-cxr",
        {},
        MS_CXR_TABLE,
        "row 1",
        "split",
    ),
    "vindr unknown label column": (
        {
            "annotations/image_labels_train.csv": _vindr_labels(
                VINDR_NAMES[:3] + ("Nodule",)
            ),
            "annotations/image_labels_test.csv": "image_id\n",
        },
        "vindr",
        {},
        "image_labels_train.csv",
        "header row",
        "Nodule",
    ),
    "vindr unknown box label": (
        {
            "annotations/image_labels_train.csv": _vindr_labels(VINDR_NAMES),
            "annotations/image_labels_test.csv": "image_id\n",
            "annotations/annotations_train.csv": _vindr_boxes(
                "i1,R1,Mass,1,2,3,4\n"
            ),
        },
        "vindr",
        {},
        "annotations_train.csv",
        "row 1",
        "class_name",
    ),
    "vindr kaggle class id": (
        {
            "train.csv": "image_id,class_name,class_id,rad_id,"
            "x_min,y_min,x_max,y_max\ni1,No finding,14,R1,,,,\n"
            "i1,X,15,R2,1,2,3,4\n"
        },
        "vindr",
        {},
        "train.csv",
        "row 2",
        "class_id",
    ),
    "covidx unknown class": (
        {"test_COVIDx9A.txt": "p1 a.png positive rsna\np2 b.png covid rsna\n"},
        "covidx",
        {},
        "test_COVIDx9A.txt",
        "row 2",
        "class",
    ),
    "covidx short row": (
        {"test_COVIDx9A.txt": "p1 a.png positive rsna\np2 b.png\n"},
        "covidx",
        {},
        "test_COVIDx9A.txt",
        "row 2",
        "class",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_file_is_one_line_naming_file_row_column(tmp_path, case):
    files, loader, options, name, row, column = CASES[case]
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    with pytest.raises(ValueError) as error:
        LOADERS[loader](tmp_path, **options)
    message = str(error.value)
    assert "\n" not in message
    assert name in message
    assert re.search(rf"{row}\b", message), message
    assert f"column {column!r}" in message, message


def test_vindr_box_outside_its_dicom(tmp_path):
    from tests.data.datasets.fixtures import render
    from tests.data.datasets.fixtures import save_dicom

    save_dicom(tmp_path / "train" / "i1.dicom", render((40, 30)))
    files = {
        "annotations/image_labels_train.csv": _vindr_labels(VINDR_NAMES),
        "annotations/image_labels_test.csv": "image_id\n",
        "annotations/annotations_train.csv": _vindr_boxes(
            "i1,R1,Cardiomegaly,1,2,3,4\ni1,R2,Cardiomegaly,10,10,40,20\n"
        ),
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    with pytest.raises(ValueError, match=r"row 2, column 'x_min'.*30x40"):
        LOADERS["vindr"](tmp_path)


def test_chexpert_5x200_not_one_hot(tmp_path):
    path = tmp_path / "chexpert_5x200.csv"
    path.write_text(FIVE + "a/b/c.jpg,1,0,0,0,0\na/b/d.jpg,1,1,0,0,0\n")
    with pytest.raises(ValueError, match=r"row 2, column 'Atelectasis'"):
        chexpert_5x200(path)
    path.write_text(FIVE.replace(",Edema", "") + "a/b/c.jpg,1,0,0,0\n")
    with pytest.raises(ValueError, match=r"header row, column 'Edema'"):
        chexpert_5x200(path)

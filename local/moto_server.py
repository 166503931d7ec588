"""The local AWS's moto server, with one gap closed that the factory's correctness rests on.

EC2 refuses AttachVolume for a volume that is already attached (VolumeInUse): that refusal is
what hands a pooled volume to one build only (contract/volume-pool.ts). moto 5.2 overwrites
the attachment instead, so two builds could both "take" one volume locally. Everything else
is moto's own `moto_server`, with its own arguments.
"""
import sys

from moto.ec2.exceptions import VolumeInUseError
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.server import main

_moto_attach_volume = EBSBackend.attach_volume


def _attach_volume(self, volume_id, instance_id, device_path, delete_on_termination=False):
    volume = self.get_volume(volume_id)
    if volume.attachment:
        raise VolumeInUseError(volume_id, volume.attachment.instance.id)
    return _moto_attach_volume(self, volume_id, instance_id, device_path, delete_on_termination)


EBSBackend.attach_volume = _attach_volume

if __name__ == "__main__":
    sys.exit(main())

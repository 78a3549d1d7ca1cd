"""nbgrader's submit, with a submission only its student and the course's graders can open.

Stock nbgrader leaves each submission folder in the exchange's inbound mode 777 with files 644
("hidden from other users by the timestamp"), so anyone who learns its name can read or change
it (nbgrader discussion #1862). The hub's set-up makes inbound setgid to the graders' group, so
a new submission folder belongs to that group; this class then closes the folder and its
subfolders to 770: the student and the graders (who collect and may delete it), nobody else.
A student cannot chgrp to a group they are not in, so the files keep 644 behind that gate.
The hub's nbgrader_config.py names it in ``c.ExchangeFactory.submit``; it is copied beside that
file, readable by every account, and imports nothing of the course.
"""

import os

from nbgrader.exchange.default.submit import ExchangeSubmit


class PrivateSubmit(ExchangeSubmit):
    """Submit, then close the submission to everyone but its owner and the inbound's group."""

    def copy_files(self) -> None:
        super().copy_files()
        submission = os.path.join(self.inbound_path, self.assignment_filename)
        inbound_group = os.stat(self.inbound_path).st_gid
        if os.stat(submission).st_gid != inbound_group:
            self.log.error("%s is not setgid to the graders' group: the submission keeps nbgrader's "
                           "mode 777 so they can still collect it", self.inbound_path)
            return
        for folder, _, _ in os.walk(submission):
            os.chmod(folder, 0o770)

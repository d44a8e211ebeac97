# report-ham.sieve - IMAPSieve script run by Dovecot when a message is moved
# or copied OUT OF the Junk mailbox: the user says "this is not spam".
#
# A move from Junk to Trash is only housekeeping (deleting spam), not a verdict,
# so it teaches nothing.  The message is piped to spamshift-learn-wrapper (found
# in sieve_pipe_bin_dir) with the IMAP user's login name (imap.user), which
# Dovecot sets from the authenticated session.  See 90-spamshift.conf.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.mailbox" "*" {
    set "mailbox" "${1}";
}
if string :is "${mailbox}" ["Trash", "Deleted Messages", "Deleted Items"] {
    stop;
}

if environment :matches "imap.user" "*" {
    set "username" "${1}";
}

pipe :copy "spamshift-learn-wrapper" ["ham", "${username}"];

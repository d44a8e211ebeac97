# report-spam.sieve - IMAPSieve script run by Dovecot when a message is moved
# or copied INTO the Junk mailbox: the user says "this is spam".
#
# It pipes the message to spamshift-learn-wrapper (found in sieve_pipe_bin_dir)
# with the IMAP user's login name, which Dovecot sets from the authenticated
# session (imap.user); the user cannot choose it.  See 90-spamshift.conf and
# README in this directory.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.user" "*" {
    set "username" "${1}";
}

pipe :copy "spamshift-learn-wrapper" ["spam", "${username}"];

//! Process exit codes of the `pasarela` commands (BSD sysexits where one
//! fits). The numbers are a contract with scripts, systemd units and tests:
//! a command keeps exiting with the same number for the same outcome.
//!
//! Only the codes some command uses are listed.

/// How a command ended, as the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// The command ran and its answer is "no": a failed rule test, a code not
    /// in the catalog, an invoice the rules cannot price.
    Failure = 1,
    /// EX_USAGE: the command line is wrong (an unknown account, a bad
    /// `--month`, a layout that cannot read the given file).
    Usage = 64,
    /// EX_DATAERR: the input data is wrong (an altered certificate, a job that
    /// does not exist or cannot be replayed, an unreadable catalog row layout).
    DataErr = 65,
    /// EX_NOINPUT: an input file (or catalog) does not exist or cannot be read.
    NoInput = 66,
    /// EX_UNAVAILABLE: a service is unavailable (the store, AWS, a feature
    /// this build lacks); the daemon also stops with it on a fatal error.
    Unavailable = 69,
    /// EX_SOFTWARE: an internal error.
    Software = 70,
    /// EX_CANTCREAT: an output folder cannot be created.
    CantCreat = 73,
    /// EX_IOERR: an output file cannot be written.
    IoErr = 74,
    /// EX_CONFIG: the configuration (or a rules file) is invalid.
    Config = 78,
}

impl Exit {
    /// The number the process exits with.
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<Exit> for i32 {
    fn from(e: Exit) -> i32 {
        e.code()
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    /// The numbers are a contract (sysexits); a renumbering must fail here.
    #[test]
    fn codes_are_the_sysexits_numbers() {
        let table = [
            (Exit::Ok, 0),
            (Exit::Failure, 1),
            (Exit::Usage, 64),
            (Exit::DataErr, 65),
            (Exit::NoInput, 66),
            (Exit::Unavailable, 69),
            (Exit::Software, 70),
            (Exit::CantCreat, 73),
            (Exit::IoErr, 74),
            (Exit::Config, 78),
        ];
        for (exit, code) in table {
            assert_eq!(exit.code(), code, "{exit:?}");
            assert_eq!(i32::from(exit), code, "{exit:?}");
        }
    }
}

//! Intake: watched folders, periodic scans and SFTP upload notices → durable jobs.

mod event;
pub use event::IntakeEvent;

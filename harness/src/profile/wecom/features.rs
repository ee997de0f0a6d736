//! The optional areas of the WeCom smart-hardware protocol: what an access-control or
//! attendance device may leave out, each with the obligations of §6.1 it gates. A device's
//! implementation conformance statement says true or false for each; scenarios that check
//! one name it in `requires:`.

use crate::profile::feature::Feature;

/// Every optional area, in the order the ICS template lists them.
pub const FEATURES: &[Feature] = &[
    Feature {
        name: "contacts",
        description: "contact sync: get_perm_version, get_userinfo_by_page full pulls, push_change_contact increments",
        obligations: &["D24", "D25", "D26", "D27", "D28", "D29"],
    },
    Feature {
        name: "visitors",
        description: "visitor sync: push_visitor_list_change and get_visitor_by_ids",
        obligations: &["D30", "D31"],
    },
    Feature {
        name: "checkin",
        description: "check-in and pass records uploaded with checkin, failed ones cached and retried",
        obligations: &["D32", "D33"],
    },
    Feature {
        name: "door",
        description: "remote door opening: push_remote_open_door answered with report_remote_open_door",
        obligations: &["D34"],
    },
    Feature {
        name: "qr_open",
        description: "opening by scanning a QR code: push_user_scan with scan_qrcode_open",
        obligations: &["D35"],
    },
    Feature {
        name: "face",
        description: "face enrolment: push_enter_page (fa) answered with upload_userinfo face templates",
        obligations: &["D36", "D37"],
    },
    Feature {
        name: "fingerprint",
        description: "fingerprint enrolment: push_enter_page (fp) answered with upload_userinfo fingerprint templates",
        obligations: &["D36", "D37"],
    },
    Feature {
        name: "temperature",
        description: "body-temperature reports: async_batch_report_user_temperature",
        obligations: &["D38"],
    },
    Feature {
        name: "dynamic_qr",
        description: "a dynamic login QR code shown on the device's screen",
        obligations: &["D39"],
    },
    Feature {
        name: "firmware",
        description: "firmware updates: push_update_firmware followed by get_firmware_info",
        obligations: &["D40"],
    },
    Feature {
        name: "log",
        description: "log upload: push_fetch_log answered with a binary upload_log",
        obligations: &["D41"],
    },
    Feature {
        name: "selfhelp",
        description: "self-help notifications: selfhelp_notify",
        obligations: &["D42"],
    },
];

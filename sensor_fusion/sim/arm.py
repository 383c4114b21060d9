"""Resolving end-effector twists to joint velocities (damped least squares), as MoveIt Servo would.

qdot = J^T (J J^T + lambda^2 I)^-1 v, with J the tool tip's 6x6 (linear; angular) Jacobian in
the world frame. The damping keeps joint speeds bounded near singularities at the price of a
small tracking error there.
"""
from __future__ import annotations

import mujoco
import numpy as np

from .world import JOINTS

DAMPING = 0.05


class ArmKinematics:
    def __init__(self, model: mujoco.MjModel, site: str = 'tool_tip'):
        self.model = model
        self.site_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site)
        self.dofs = np.array([model.jnt_dofadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j)] for j in JOINTS])
        self.qpos_index = np.array([model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j)]
                                    for j in JOINTS])
        self.limits = np.array([model.jnt_range[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j)] for j in JOINTS])

    def jacobian(self, data: mujoco.MjData) -> np.ndarray:
        """(6, 6): rows vx vy vz wx wy wz of the tool tip, columns the arm joints."""
        jacp, jacr = np.zeros((3, self.model.nv)), np.zeros((3, self.model.nv))
        mujoco.mj_jacSite(self.model, data, jacp, jacr, self.site_id)
        return np.vstack([jacp[:, self.dofs], jacr[:, self.dofs]])

    def joint_velocities(self, data: mujoco.MjData, twist: np.ndarray) -> np.ndarray:
        """(6,) world-frame twist (m/s, rad/s) of the tool tip -> (6,) joint velocities (rad/s)."""
        j = self.jacobian(data)
        return j.T @ np.linalg.solve(j @ j.T + DAMPING ** 2 * np.eye(6), twist)

    def tip_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        return data.site_xpos[self.site_id].copy(), data.site_xmat[self.site_id].reshape(3, 3).copy()

    def solve(self, data: mujoco.MjData, position: np.ndarray, rotation: np.ndarray = np.eye(3),
              iterations: int = 300) -> np.ndarray:
        """Joint positions putting the tool tip at ``position`` with ``rotation`` (world), by iterating
        the damped least-squares step on the pose error from ``data``'s current joints. Leaves ``data``
        at the solution (kinematics only)."""
        for _ in range(iterations):
            mujoco.mj_kinematics(self.model, data)
            mujoco.mj_comPos(self.model, data)
            tip, current = self.tip_pose(data)
            error = np.concatenate([position - tip, rotation_error(current, rotation)])
            if np.linalg.norm(error) < 1e-5:
                break
            step = self.joint_velocities(data, error)
            q = data.qpos[self.qpos_index] + step
            data.qpos[self.qpos_index] = np.clip(q, self.limits[:, 0], self.limits[:, 1])
        mujoco.mj_forward(self.model, data)
        return data.qpos[self.qpos_index].copy()


def rotation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Axis-angle vector (world frame) rotating ``current`` onto ``target``."""
    delta = target @ current.T
    quaternion = np.zeros(4)
    mujoco.mju_mat2Quat(quaternion, delta.reshape(-1))
    axis_angle = np.zeros(3)
    mujoco.mju_quat2Vel(axis_angle, quaternion, 1.0)
    return axis_angle
